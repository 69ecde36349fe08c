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
 * - every entry has a known dtype (F32, F16, BF16; others are read as UM_ERR_UNSUPPORTED only if
 *   they are looked up), an integer shape of at most 8 non-negative dims, data_offsets
 *   [begin <= end] inside the data buffer, and (end - begin) == product(shape) * dtype size
 *   (with overflow checks);
 * - no two tensors overlap; duplicate names are an error;
 * - with an index: weight_map is an object of name -> shard file name (no '/' or ".."), every
 *   shard listed is opened and validated, and each name maps to a tensor present in that shard.
 */
#ifndef UM_SAFETENSORS_H
#define UM_SAFETENSORS_H

#include "unmask.h"

#include <stddef.h>
#include <stdint.h>

#define UM_ST_MAX_DIMS 8

typedef struct um_st_tensor {
    const char *name;     /* NUL-terminated, owned by the set */
    enum um_dtype dtype;
    int n_dims;
    int64_t shape[UM_ST_MAX_DIMS]; /* row-major, as in torch */
    int64_t n_elems;
    const void *data;     /* points into the read-only mapping */
    size_t n_bytes;
    const char *file;     /* path of the file holding it (for messages) */
} um_st_tensor;

typedef struct um_st_set um_st_set;

/* Open a single .safetensors file. */
enum um_status um_st_open_file(const char *path, um_st_set **out);
/* Open a model folder: model.safetensors.index.json (sharded) if present, else
 * model.safetensors. */
enum um_status um_st_open_dir(const char *dir, um_st_set **out);
void um_st_close(um_st_set *set);

int um_st_count(const um_st_set *set);
const um_st_tensor *um_st_get(const um_st_set *set, int i);
/* Tensor by name, or NULL. */
const um_st_tensor *um_st_find(const um_st_set *set, const char *name);

/* Writer: tensors to write (data in host memory), written in the given order with 8-byte
 * aligned header padding; metadata may be NULL. Written to a temp file then renamed. */
typedef struct um_st_write_tensor {
    const char *name;
    enum um_dtype dtype;
    int n_dims;
    int64_t shape[UM_ST_MAX_DIMS];
    const void *data; /* n_elems * dtype size bytes */
} um_st_write_tensor;
enum um_status um_st_write(const char *path, const um_st_write_tensor *tensors, int n,
                           const char *const *meta_kv /* key,value,...,NULL */);

size_t um_dtype_size(enum um_dtype t);

#endif /* UM_SAFETENSORS_H */
