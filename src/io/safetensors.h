/*
 * safetensors.h: read-only, mmap'd access to Hugging Face safetensors files, single or sharded
 * (model.safetensors.index.json), and an atomic writer. Private to the library.
 *
 * File format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N,
 * N bytes of JSON {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {str: str}}, then the data buffer; offsets are relative to the buffer start.
 *
 * Validation on open (every failure names the file and the tensor/field):
 * - file at least 8 bytes; N <= file size - 8 and N <= 100 MB; header is a JSON object;
 * - every entry has a dtype the safetensors format defines, an integer shape of at most 8
 *   non-negative dims, data_offsets [begin <= end] inside the data buffer, and
 *   (end - begin) == product(shape) * dtype size (integers are JSON numbers that are whole,
 *   non-negative and <= 2^53; products are overflow-checked);
 * - no two tensors overlap (the buffer need not be covered entirely); duplicate names are an
 *   error, within a file and across shards; "__metadata__", if present, is an object of strings;
 * - with an index: weight_map is an object of name -> shard file name (a plain file name: no
 *   '/', not "." or ".."), every shard listed is opened once and validated, and each name maps
 *   to a tensor present in that shard. Tensors of a shard absent from weight_map are kept.
 *
 * Dtypes: F32, F16 and BF16 are supported. The other dtypes of the format (BOOL, U8, I8, I16,
 * U16, I32, U32, I64, U64, F64, C64, F8_E4M3, F8_E5M2, F8_E8M0, F4, F6_E2M3, F6_E3M2) are
 * validated like the rest (sizes, offsets, overlap) and kept with supported = false, so a
 * checkpoint carrying e.g. an I64 position_ids buffer still opens: um_st_get lists them,
 * um_st_find returns NULL for them and records a UM_ERR_UNSUPPORTED message naming the file,
 * tensor and dtype (for an absent name it returns NULL and records nothing). A dtype string
 * outside that list (e.g. "Q4") is UM_ERR_FORMAT.
 *
 * Alignment: `data` is at 8 + N + begin in a page-aligned mapping, so it is aligned to its
 * element size exactly when the file lays tensors out that way (um_st_write and the reference
 * writer do: N % 8 == 0, and offsets sorted by alignment). Open does not require it; a consumer
 * that casts `data` to a typed pointer must check ((uintptr_t)data % um_dtype_size(dtype)).
 *
 * Lifetime: a set owns its mappings, names and tensor records; every pointer it hands out
 * (um_st_get, um_st_find, name, data, file) is valid until um_st_close. A set is immutable after
 * open and may be read from many threads. A failed open leaves *out untouched and frees
 * everything it made.
 */
#ifndef UM_SAFETENSORS_H
#define UM_SAFETENSORS_H

#include "unmask.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UM_ST_MAX_DIMS 8

typedef struct um_st_tensor {
    const char *name;     /* NUL-terminated, owned by the set */
    bool supported;       /* dtype is F32/F16/BF16; if false, `dtype` is meaningless (UM_DTYPE_F32) */
    enum um_dtype dtype;
    int n_dims;
    int64_t shape[UM_ST_MAX_DIMS]; /* row-major, as in torch */
    int64_t n_elems;      /* product of shape (1 for a 0-d scalar) */
    const void *data;     /* points into the read-only mapping; see Alignment above */
    size_t n_bytes;       /* end - begin == n_elems * element size */
    const char *file;     /* path of the file holding it (for messages) */
} um_st_tensor;

typedef struct um_st_set um_st_set;

/* Open a single .safetensors file (mmap'd read-only). On success *out owns the mapping; free it
 * with um_st_close. UM_ERR_IO: cannot open/stat/map; UM_ERR_FORMAT: anything the validation
 * list above rejects; UM_ERR_NOMEM. */
enum um_status um_st_open_file(const char *path, um_st_set **out);
/* Open a model folder: DIR/model.safetensors.index.json (sharded) if present, else
 * DIR/model.safetensors; neither is UM_ERR_IO "DIR: no model.safetensors or
 * model.safetensors.index.json". The set holds every tensor of every shard. */
enum um_status um_st_open_dir(const char *dir, um_st_set **out);
/* Unmaps and frees everything; accepts NULL. */
void um_st_close(um_st_set *set);

/* Number of tensors (0 for NULL); um_st_get(i) for 0 <= i < count lists them in file order
 * (shards in sorted file-name order), unsupported dtypes included; NULL when out of range. */
int um_st_count(const um_st_set *set);
const um_st_tensor *um_st_get(const um_st_set *set, int i);
/* Tensor by name (binary search, O(log n)), or NULL if absent or of an unsupported dtype (the
 * latter records UM_ERR_UNSUPPORTED for um_last_error). */
const um_st_tensor *um_st_find(const um_st_set *set, const char *name);

/* Writer: tensors to write (data in host memory), written in the given order with consecutive
 * offsets and the header padded with spaces to a multiple of 8 bytes; meta_kv may be NULL.
 * Streams to PATH.tmp.XXXXXX in the same folder, fsyncs, renames over PATH; on failure the temp
 * file is removed and PATH is untouched. UM_ERR_ARG for bad input (empty or duplicate names,
 * "__metadata__" as a name, n_dims outside 0..8, negative dims, NULL data for a non-empty
 * tensor, an odd meta_kv list), UM_ERR_IO for write failures. */
typedef struct um_st_write_tensor {
    const char *name;
    enum um_dtype dtype;
    int n_dims;
    int64_t shape[UM_ST_MAX_DIMS];
    const void *data; /* n_elems * dtype size bytes */
} um_st_write_tensor;
enum um_status um_st_write(const char *path, const um_st_write_tensor *tensors, int n,
                           const char *const *meta_kv /* key,value,...,NULL */);

/* Bytes per element: F32 4, F16 2, BF16 2; 0 for a value outside the enum. */
size_t um_dtype_size(enum um_dtype t);

#endif /* UM_SAFETENSORS_H */
