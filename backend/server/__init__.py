"""The ``sgl-backend`` process: its command line, ``serve`` (stdin and HTTP), the dev endpoints, the
worker processes of ``--num-workers``, request bodies, and the attention-config hot reload.
"""
