"""The embedded default model: a tiny text-conditioned diffusion transformer trained on coloured shapes.

`shapes_pipeline.load_pipeline()` gives the default (`shapes/`), `load_pipeline("dual")` the two-expert
variant (`shapes_dual/`). Importing this package imports nothing heavy; `vocab` is torch-free so a prompt
can be checked before torch loads.
"""
