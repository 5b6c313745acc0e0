"""Invalid values and the exact error message each gets, at least two per variable, written out by
hand from ``shared/spec/env-vars.md`` (strict mode).

Why a module of its own: the table is long, and the message texts are the contract users see.
"""

from __future__ import annotations

# (name, invalid raw, the exact error message).  At least two per variable.
INVALID: list[tuple[str, str, str]] = [
    (
        "SGLANG_DIFFUSION_TARGET_DEVICE",
        "gpu",
        "SGLANG_DIFFUSION_TARGET_DEVICE='gpu' is not valid (did you mean 'xpu'?); allowed: cuda, rocm, xpu, npu, musa, mps, cpu",
    ),
    (
        "SGLANG_DIFFUSION_TARGET_DEVICE",
        "CUDA",
        "SGLANG_DIFFUSION_TARGET_DEVICE='CUDA' is not valid; allowed: cuda, rocm, xpu, npu, musa, mps, cpu",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_BACKEND",
        "flash",
        "SGLANG_DIFFUSION_ATTENTION_BACKEND='flash' is not valid; allowed: fa, torch_sdpa, sliding_tile_attn, sage_attn, sage_attn_3, video_sparse_attn, vmoba_attn, aiter, aiter_sage, sla_attn, sage_sla_attn, sparse_video_gen_2_attn (aliases: fa3=fa, fa4=fa), any case",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_BACKEND",
        "sdpa",
        "SGLANG_DIFFUSION_ATTENTION_BACKEND='sdpa' is not valid; allowed: fa, torch_sdpa, sliding_tile_attn, sage_attn, sage_attn_3, video_sparse_attn, vmoba_attn, aiter, aiter_sage, sla_attn, sage_sla_attn, sparse_video_gen_2_attn (aliases: fa3=fa, fa4=fa), any case",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_CONFIG",
        "attn.txt",
        "SGLANG_DIFFUSION_ATTENTION_CONFIG='attn.txt' is not valid (unsupported file type); allowed: a path ending in .json/.yaml/.yml",
    ),
    (
        "SGLANG_DIFFUSION_ATTENTION_CONFIG",
        "a\nb.json",
        "SGLANG_DIFFUSION_ATTENTION_CONFIG='a\\nb.json' is not valid (contains a NUL or newline); allowed: a path ending in .json/.yaml/.yml",
    ),
    (
        "SGLANG_DIFFUSION_STAGE_LOGGING",
        "maybe",
        "SGLANG_DIFFUSION_STAGE_LOGGING='maybe' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_STAGE_LOGGING",
        "2",
        "SGLANG_DIFFUSION_STAGE_LOGGING='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_SERVER_DEV_MODE",
        "enable",
        "SGLANG_DIFFUSION_SERVER_DEV_MODE='enable' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_SERVER_DEV_MODE",
        "y",
        "SGLANG_DIFFUSION_SERVER_DEV_MODE='y' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR",
        "relative/dir",
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR='relative/dir' is not valid (relative path); allowed: an absolute path",
    ),
    (
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR",
        "/tmp/a\x00b",
        "SGLANG_DIFFUSION_TORCH_PROFILER_DIR='/tmp/a\\x00b' is not valid (contains a NUL or newline); allowed: an absolute path",
    ),
    (
        "SGLANG_DIFFUSION_CACHE_ROOT",
        "a\x00b",
        "SGLANG_DIFFUSION_CACHE_ROOT='a\\x00b' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CACHE_ROOT",
        "a\nb",
        "SGLANG_DIFFUSION_CACHE_ROOT='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CONFIG_ROOT",
        "a\x00b",
        "SGLANG_DIFFUSION_CONFIG_ROOT='a\\x00b' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_CONFIG_ROOT",
        "a\nb",
        "SGLANG_DIFFUSION_CONFIG_ROOT='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_DIFFUSION_LOGGING_LEVEL",
        "VERBOSE",
        "SGLANG_DIFFUSION_LOGGING_LEVEL='VERBOSE' is not valid; allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL, any case",
    ),
    (
        "SGLANG_DIFFUSION_LOGGING_LEVEL",
        "warn",
        "SGLANG_DIFFUSION_LOGGING_LEVEL='warn' is not valid (did you mean 'WARNING'?); allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL, any case",
    ),
    (
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD",
        "forkserver",
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD='forkserver' is not valid; allowed: fork, spawn",
    ),
    (
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD",
        "Spawn",
        "SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD='Spawn' is not valid (did you mean 'spawn'?); allowed: fork, spawn",
    ),
    (
        "SGLANG_USE_RUNAI_MODEL_STREAMER",
        "enabled",
        "SGLANG_USE_RUNAI_MODEL_STREAMER='enabled' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_RUNAI_MODEL_STREAMER",
        "tru",
        "SGLANG_USE_RUNAI_MODEL_STREAMER='tru' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    ("SGLANG_USE_MLX", "0", "SGLANG_USE_MLX='0' is not valid; allowed: 1 (or leave unset)"),
    ("SGLANG_USE_MLX", "true", "SGLANG_USE_MLX='true' is not valid; allowed: 1 (or leave unset)"),
    (
        "SGLANG_USE_ROCM_VAE",
        "2",
        "SGLANG_USE_ROCM_VAE='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_VAE",
        "nope",
        "SGLANG_USE_ROCM_VAE='nope' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK",
        "x",
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK='x' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK",
        "-1",
        "SGLANG_USE_ROCM_CUDNN_BENCHMARK='-1' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND",
        "cutlass",
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND='cutlass' is not valid; allowed: flashinfer_cudnn, flashinfer_cutlass, flashinfer_trtllm",
    ),
    (
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND",
        "flashinfer",
        "SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND='flashinfer' is not valid (did you mean 'flashinfer_cudnn'?); allowed: flashinfer_cudnn, flashinfer_cutlass, flashinfer_trtllm",
    ),
    (
        "SGLANG_CACHE_DIT_ENABLED",
        "enable",
        "SGLANG_CACHE_DIT_ENABLED='enable' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_ENABLED",
        "ja",
        "SGLANG_CACHE_DIT_ENABLED='ja' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_FN",
        "-1",
        "SGLANG_CACHE_DIT_FN='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_FN",
        "1.5",
        "SGLANG_CACHE_DIT_FN='1.5' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_BN",
        "abc",
        "SGLANG_CACHE_DIT_BN='abc' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_BN",
        "-3",
        "SGLANG_CACHE_DIT_BN='-3' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_WARMUP",
        "four",
        "SGLANG_CACHE_DIT_WARMUP='four' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_WARMUP",
        "-1",
        "SGLANG_CACHE_DIT_WARMUP='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "abc",
        "SGLANG_CACHE_DIT_RDT='abc' is not valid (not a number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "0",
        "SGLANG_CACHE_DIT_RDT='0' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "-0.1",
        "SGLANG_CACHE_DIT_RDT='-0.1' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "nan",
        "SGLANG_CACHE_DIT_RDT='nan' is not valid (not a finite number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_RDT",
        "inf",
        "SGLANG_CACHE_DIT_RDT='inf' is not valid (not a finite number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_MC",
        "3.0",
        "SGLANG_CACHE_DIT_MC='3.0' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_MC",
        "-2",
        "SGLANG_CACHE_DIT_MC='-2' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_TAYLORSEER",
        "2",
        "SGLANG_CACHE_DIT_TAYLORSEER='2' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_TAYLORSEER",
        "yesno",
        "SGLANG_CACHE_DIT_TAYLORSEER='yesno' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    ("SGLANG_CACHE_DIT_TS_ORDER", "3", "SGLANG_CACHE_DIT_TS_ORDER='3' is not valid; allowed: one of 1, 2"),
    ("SGLANG_CACHE_DIT_TS_ORDER", "0", "SGLANG_CACHE_DIT_TS_ORDER='0' is not valid; allowed: one of 1, 2"),
    (
        "SGLANG_CACHE_DIT_TS_ORDER",
        "one",
        "SGLANG_CACHE_DIT_TS_ORDER='one' is not valid (not an integer); allowed: one of 1, 2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_PRESET",
        "turbo",
        "SGLANG_CACHE_DIT_SCM_PRESET='turbo' is not valid; allowed: none, slow, medium, fast, ultra",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_PRESET",
        "Fast",
        "SGLANG_CACHE_DIT_SCM_PRESET='Fast' is not valid (did you mean 'fast'?); allowed: none, slow, medium, fast, ultra",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_POLICY",
        "dyn",
        "SGLANG_CACHE_DIT_SCM_POLICY='dyn' is not valid (did you mean 'dynamic'?); allowed: dynamic, static",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_POLICY",
        "auto",
        "SGLANG_CACHE_DIT_SCM_POLICY='auto' is not valid; allowed: dynamic, static",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "8,0,3",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='8,0,3' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "a,b",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='a,b' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS",
        "8,,3",
        "SGLANG_CACHE_DIT_SCM_COMPUTE_BINS='8,,3' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS",
        "-1",
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS='-1' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS",
        "1.5",
        "SGLANG_CACHE_DIT_SCM_CACHE_BINS='1.5' is not valid; allowed: comma-separated positive integers, e.g. 8,3,3,2",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_FN",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_FN='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_FN",
        "x",
        "SGLANG_CACHE_DIT_SECONDARY_FN='x' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_BN",
        "-5",
        "SGLANG_CACHE_DIT_SECONDARY_BN='-5' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_BN",
        "1e3",
        "SGLANG_CACHE_DIT_SECONDARY_BN='1e3' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP",
        "4.5",
        "SGLANG_CACHE_DIT_SECONDARY_WARMUP='4.5' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_RDT",
        "0",
        "SGLANG_CACHE_DIT_SECONDARY_RDT='0' is not valid (must be > 0); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_RDT",
        "fast",
        "SGLANG_CACHE_DIT_SECONDARY_RDT='fast' is not valid (not a number); allowed: a finite number > 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_MC",
        "-1",
        "SGLANG_CACHE_DIT_SECONDARY_MC='-1' is not valid (below 0); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_MC",
        "three",
        "SGLANG_CACHE_DIT_SECONDARY_MC='three' is not valid (not an integer); allowed: an integer >= 0",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER",
        "sure",
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER='sure' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER",
        "11",
        "SGLANG_CACHE_DIT_SECONDARY_TAYLORSEER='11' is not valid; allowed: true/false, 1/0, yes/no, on/off (any case)",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER",
        "3",
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER='3' is not valid; allowed: one of 1, 2",
    ),
    (
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER",
        "1.0",
        "SGLANG_CACHE_DIT_SECONDARY_TS_ORDER='1.0' is not valid (not an integer); allowed: one of 1, 2",
    ),
    (
        "SGLANG_CLOUD_STORAGE_TYPE",
        "gcs",
        "SGLANG_CLOUD_STORAGE_TYPE='gcs' is not valid; allowed: s3, any case",
    ),
    ("SGLANG_CLOUD_STORAGE_TYPE", "s4", "SGLANG_CLOUD_STORAGE_TYPE='s4' is not valid; allowed: s3, any case"),
    (
        "SGLANG_S3_BUCKET_NAME",
        "My_Bucket",
        "SGLANG_S3_BUCKET_NAME='My_Bucket' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_BUCKET_NAME",
        "ab",
        "SGLANG_S3_BUCKET_NAME='ab' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_BUCKET_NAME",
        "a..b",
        "SGLANG_S3_BUCKET_NAME='a..b' is not valid; allowed: an S3 bucket name: 3-63 lower-case letters, digits, dots or hyphens, starting and ending alphanumeric",
    ),
    (
        "SGLANG_S3_ENDPOINT_URL",
        "ftp://x",
        "SGLANG_S3_ENDPOINT_URL='ftp://x' is not valid; allowed: an http:// or https:// URL, e.g. http://127.0.0.1:9000",
    ),
    (
        "SGLANG_S3_ENDPOINT_URL",
        "localhost:9000",
        "SGLANG_S3_ENDPOINT_URL='localhost:9000' is not valid; allowed: an http:// or https:// URL, e.g. http://127.0.0.1:9000",
    ),
    (
        "SGLANG_S3_REGION_NAME",
        "US-EAST-1",
        "SGLANG_S3_REGION_NAME='US-EAST-1' is not valid; allowed: a region name of lower-case letters, digits and hyphens, e.g. us-east-1",
    ),
    (
        "SGLANG_S3_REGION_NAME",
        "us east",
        "SGLANG_S3_REGION_NAME='us east' is not valid; allowed: a region name of lower-case letters, digits and hyphens, e.g. us-east-1",
    ),
    (
        "SGLANG_S3_ACCESS_KEY_ID",
        "has space",
        "SGLANG_S3_ACCESS_KEY_ID='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_ACCESS_KEY_ID",
        "   ",
        "SGLANG_S3_ACCESS_KEY_ID='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_SECRET_ACCESS_KEY",
        "a b",
        "SGLANG_S3_SECRET_ACCESS_KEY='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_S3_SECRET_ACCESS_KEY",
        "tab\there",
        "SGLANG_S3_SECRET_ACCESS_KEY='********' is not valid; allowed: non-empty text without whitespace",
    ),
    (
        "SGLANG_KERNEL_API_LOGLEVEL",
        "2",
        "SGLANG_KERNEL_API_LOGLEVEL='2' is not valid; allowed: one of 0, 1, 3, 5, 10",
    ),
    (
        "SGLANG_KERNEL_API_LOGLEVEL",
        "debug",
        "SGLANG_KERNEL_API_LOGLEVEL='debug' is not valid (not an integer); allowed: one of 0, 1, 3, 5, 10",
    ),
    (
        "SGLANG_KERNEL_API_LOGDEST",
        "a\x00b",
        "SGLANG_KERNEL_API_LOGDEST='a\\x00b' is not valid (contains a NUL or newline); allowed: stdout, stderr, or a file path (%i becomes the process id)",
    ),
    (
        "SGLANG_KERNEL_API_LOGDEST",
        "x\ny",
        "SGLANG_KERNEL_API_LOGDEST='x\\ny' is not valid (contains a NUL or newline); allowed: stdout, stderr, or a file path (%i becomes the process id)",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_DIR",
        "\x00",
        "SGLANG_KERNEL_API_DUMP_DIR='\\x00' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_DIR",
        "a\nb",
        "SGLANG_KERNEL_API_DUMP_DIR='a\\nb' is not valid (contains a NUL or newline); allowed: a path",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_INCLUDE",
        "a,,b",
        "SGLANG_KERNEL_API_DUMP_INCLUDE='a,,b' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_INCLUDE",
        ",",
        "SGLANG_KERNEL_API_DUMP_INCLUDE=',' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_EXCLUDE",
        "x, ",
        "SGLANG_KERNEL_API_DUMP_EXCLUDE='x, ' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
    (
        "SGLANG_KERNEL_API_DUMP_EXCLUDE",
        "*decode*,",
        "SGLANG_KERNEL_API_DUMP_EXCLUDE='*decode*,' is not valid (empty pattern); allowed: comma-separated wildcard patterns, e.g. backend.attention.*,*decode*",
    ),
]
