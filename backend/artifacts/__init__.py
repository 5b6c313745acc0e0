"""What a request leaves behind: images (SGLang's names, PNG chunks), ``performance.log`` and the perf
dump, profiler traces, and the upload to cloud storage.
"""
