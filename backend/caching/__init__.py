"""Cache-DiT block caching: the controller the denoising stage drives, step computation masks (SCM),
the one builder of cache-dit's adapter and configuration, and the quiet import of cache-dit.

Importing this package imports nothing: cache-dit loads only when a request needs it.
"""
