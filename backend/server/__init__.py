"""The ``sgl-backend`` process: its command line, the runtime (the loaded model, one request at a time),
``serve`` (stdin and HTTP), the dev endpoints, the worker processes of ``--num-workers``, request bodies,
the stop signals and the attention-config hot reload.
"""
