"""One model shared by many LAMMPS replicas: the server (server.py), the replica's calculator
(client.py), the wire format (protocol.py), the batching rule and the generic backend
(batch.py), and starting the servers of `-partition` runs (replicas.py), one per node or GPU
as the placement rule says (layout.py).

It may import only the base modules (errors.py, properties.py): model families plug their
batch backends in from models/, and the server is handed a backend (docs/architecture.md).
"""
