"""SMS providers behind one port (``port.py``), each in its own adapter package (``twilio/``).

The use cases see only the port's words and exceptions (``errors.py``); ``adapters.py`` is the
one place that names every adapter, for the bootstrap to build them.
"""
