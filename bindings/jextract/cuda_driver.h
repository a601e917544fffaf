/* jextract takes one header: the driver API plus the profiler control functions. */
#include <cuda.h>
#include <cudaProfiler.h>
