"""Kernel API crash-debug logging (``SGLANG_KERNEL_API_*``) at our kernel boundaries, and the fault drills
(``--inject-fault``) that fire at those boundaries.
"""
