"""This host: its real ephemeral port range, and (later) its sockets, processes and namespaces."""
