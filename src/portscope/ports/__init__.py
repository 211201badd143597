"""Knowledge about ports: the IANA registry, RFC 6335 ranges, OS ephemeral ranges, classification.

Nothing here imports a heavy library: ``portscope explain`` must start as fast as Python itself.
"""
