"""Knowledge about ports: the IANA registry, RFC 6335 ranges, OS ephemeral ranges, and a port's class.

- :mod:`.iana`: the registry, indexed; :mod:`.services_db`: /etc/services and nmap-services;
  :mod:`.notes`: what ports are known as beyond IANA;
- :mod:`.ranges`: RFC 6335's ranges, each OS's ephemeral range, the client range an ``--os`` puts in
  force; :mod:`.host_ranges`: hosts whose range is known (``ADDR=OS``);
- :mod:`.curated`: well-known services IANA does not place; :mod:`.classify`: the one decision of a
  port's class (service, ephemeral, other), in Python and as an engine expression;
- :mod:`.spec`: what a person types (``443/udp``, ``ssh``, ``49152-49160``).

Nothing here imports a heavy library: ``portscope explain`` must start as fast as Python itself.
"""
