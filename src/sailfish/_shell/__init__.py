"""The compiled protocol layer: setup.py builds sailfish/protocols/{base,deadlines,http1,
websocket,wsgi}.py and sailfish/wsgi/runner.py (with their .pxd types) into extension modules
of this package. Nothing else lives here; import the classes from sailfish.protocols and
sailfish.wsgi.runner, which pick this package or the plain-Python sources.
"""
