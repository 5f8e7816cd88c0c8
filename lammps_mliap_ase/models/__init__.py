"""Model families: one module per family (its registry names and factories, option defaults,
and its batch backend), the registry that looks families up (registry.py), what families
share (base.py) and calculator option checking (options.py).

It may import serve/ (family backends subclass serve.batch.Backend; the ``server`` family is
serve's client) and the base modules; never adapter/ or cli/ (docs/architecture.md).  A new
family is one module here plus its name in registry.py (the import and FAMILIES).
"""
