/* vault._native: the access-log verifier's inner loops, in C.
 *
 * Three functions, each over byte strings Python has already split:
 *
 *   leaf_hashes(leaves)   SHA-256(0x00 || leaf) of each leaf, concatenated (32 bytes each)
 *   levels(hashes)        every level of the RFC 6962 tree over concatenated leaf hashes
 *   leaf_columns(leaves)  checks every leaf against the redress-log/1 form and returns
 *                         (first bad index or -1, actors, actions, cases)
 *
 * vault/merkle.py and vault/bundle.py hold the same operations in pure Python, and
 * tests/test_native.py checks that the two agree. Everything here reads only inside the
 * length of each bytes object it is given; nothing is parsed that Python has not split.
 * SHA-256 is OpenSSL's (SHA256_Init/Update/Final: deprecated in OpenSSL 3 but present,
 * and far cheaper per call than the EVP one-shot, which fetches the algorithm each time).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <string.h>

#define HASH_BYTES 32

/* --- hashing ------------------------------------------------------------------------- */

static PyObject *
leaf_hashes(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "leaf_hashes() takes a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    if (n > PY_SSIZE_T_MAX / HASH_BYTES) {
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * HASH_BYTES);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *at = (unsigned char *)PyBytes_AS_STRING(out);
    static const unsigned char prefix = 0x00;
    /* The GIL is held throughout, so the list cannot change under us. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *leaf = PyList_GET_ITEM(arg, i);
        if (!PyBytes_Check(leaf)) {
            Py_DECREF(out);
            PyErr_Format(PyExc_TypeError, "leaf %zd is not bytes", i);
            return NULL;
        }
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &prefix, 1);
        SHA256_Update(&ctx, PyBytes_AS_STRING(leaf), (size_t)PyBytes_GET_SIZE(leaf));
        SHA256_Final(at + i * HASH_BYTES, &ctx);
    }
    return out;
}

static PyObject *
levels(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "levels() takes bytes");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    if (size % HASH_BYTES != 0) {
        PyErr_SetString(PyExc_ValueError, "levels() takes whole 32-byte hashes");
        return NULL;
    }
    PyObject *result = PyList_New(0);
    if (result == NULL) {
        return NULL;
    }
    if (PyList_Append(result, arg) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    static const unsigned char prefix = 0x01;
    PyObject *level = arg; /* borrowed: the list holds it */
    Py_ssize_t count = size / HASH_BYTES;
    while (count > 1) {
        Py_ssize_t above = count / 2 + count % 2;
        PyObject *next = PyBytes_FromStringAndSize(NULL, above * HASH_BYTES);
        if (next == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        const unsigned char *below = (const unsigned char *)PyBytes_AS_STRING(level);
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(next);
        for (Py_ssize_t i = 0; i < count / 2; i++) {
            /* The two children are adjacent: 64 bytes from below + 2 * i * 32. */
            SHA256_CTX ctx;
            SHA256_Init(&ctx);
            SHA256_Update(&ctx, &prefix, 1);
            SHA256_Update(&ctx, below + 2 * i * HASH_BYTES, 2 * HASH_BYTES);
            SHA256_Final(out + i * HASH_BYTES, &ctx);
        }
        if (count % 2) { /* an unpaired last node is carried up unchanged */
            memcpy(out + (above - 1) * HASH_BYTES, below + (count - 1) * HASH_BYTES,
                   HASH_BYTES);
        }
        int failed = PyList_Append(result, next);
        Py_DECREF(next);
        if (failed < 0) {
            Py_DECREF(result);
            return NULL;
        }
        level = next;
        count = above;
    }
    return result;
}

/* --- the redress-log/1 form (vault/leaves.py) ------------------------------------------ */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static int is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

/* Crockford base32, upper case: 0-9 and A-Z without I, L, O and U. */
static int
is_case_char(unsigned char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
}

static const char VERSION[] = "redress-log/1 ";
#define VERSION_LEN (sizeof(VERSION) - 1)
/* "2026-11-24T09:15:02Z": D for a digit, anything else literally. */
static const char TIME_FORM[] = "DDDD-DD-DDTDD:DD:DDZ";
#define TIME_LEN (sizeof(TIME_FORM) - 1)
#define ACTOR_LEN 16
#define CASE_LEN 8
#define DETAIL_MAX 64
#define COMMIT_LEN 64

/* Where one leaf's fields lie, once it has been found to be in the form. */
struct fields {
    Py_ssize_t action, action_len, case_, case_len;
};

/* The next field of p[at:n], which ends at a space (or, if last, at n). Returns its end,
   or -1 if there is no space before n and the field is not the last. */
static Py_ssize_t
field_end(const unsigned char *p, Py_ssize_t at, Py_ssize_t n, int last)
{
    const unsigned char *space = memchr(p + at, ' ', (size_t)(n - at));
    if (last) {
        return space == NULL ? n : -1;
    }
    return space == NULL ? -1 : space - p;
}

/* 1 if p[0:n] is one leaf in the redress-log/1 form, as vault.leaves.LINES says. */
static int
check_leaf(const unsigned char *p, Py_ssize_t n, struct fields *f)
{
    Py_ssize_t at = 0, end, i;
    if (n < (Py_ssize_t)VERSION_LEN || memcmp(p, VERSION, VERSION_LEN) != 0) {
        return 0;
    }
    at = VERSION_LEN;
    /* the time */
    if (n - at < (Py_ssize_t)TIME_LEN + 1) {
        return 0;
    }
    for (i = 0; i < (Py_ssize_t)TIME_LEN; i++) {
        unsigned char c = p[at + i];
        if (TIME_FORM[i] == 'D' ? !is_digit(c) : c != (unsigned char)TIME_FORM[i]) {
            return 0;
        }
    }
    at += TIME_LEN;
    if (p[at] != ' ') {
        return 0;
    }
    at += 1;
    /* the actor: 16 hex digits */
    if (n - at < ACTOR_LEN + 1) {
        return 0;
    }
    for (i = 0; i < ACTOR_LEN; i++) {
        if (!is_hex(p[at + i])) {
            return 0;
        }
    }
    at += ACTOR_LEN;
    if (p[at] != ' ') {
        return 0;
    }
    at += 1;
    /* the action: [a-z-]+ */
    end = field_end(p, at, n, 0);
    if (end <= at) {
        return 0;
    }
    for (i = at; i < end; i++) {
        if (!is_lower(p[i]) && p[i] != '-') {
            return 0;
        }
    }
    f->action = at;
    f->action_len = end - at;
    at = end + 1;
    /* the case: 8 Crockford characters, or - */
    end = field_end(p, at, n, 0);
    if (end < 0) {
        return 0;
    }
    if (end - at == 1 && p[at] == '-') {
        /* no case */
    } else if (end - at == CASE_LEN) {
        for (i = at; i < end; i++) {
            if (!is_case_char(p[i])) {
                return 0;
            }
        }
    } else {
        return 0;
    }
    f->case_ = at;
    f->case_len = end - at;
    at = end + 1;
    /* the detail: [a-z0-9][a-z0-9-]{0,63}, or - */
    end = field_end(p, at, n, 0);
    if (end < 0) {
        return 0;
    }
    if (!(end - at == 1 && p[at] == '-')) {
        if (end - at < 1 || end - at > DETAIL_MAX) {
            return 0;
        }
        if (!is_lower(p[at]) && !is_digit(p[at])) {
            return 0;
        }
        for (i = at + 1; i < end; i++) {
            if (!is_lower(p[i]) && !is_digit(p[i]) && p[i] != '-') {
                return 0;
            }
        }
    }
    at = end + 1;
    /* the commitment: 64 hex digits, or -; the end of the leaf */
    end = field_end(p, at, n, 1);
    if (end < 0) {
        return 0;
    }
    if (!(end - at == 1 && p[at] == '-')) {
        if (end - at != COMMIT_LEN) {
            return 0;
        }
        for (i = at; i < end; i++) {
            if (!is_hex(p[i])) {
                return 0;
            }
        }
    }
    return 1;
}

/* A few distinct small values (actors, actions), kept as one bytes object each so that a
   column of a million entries holds a million references, not a million copies. */
#define CACHE_SLOTS 64
struct cache {
    PyObject *values[CACHE_SLOTS];
    int used;
};

static PyObject *
cached_bytes(struct cache *c, const unsigned char *p, Py_ssize_t len)
{
    for (int i = 0; i < c->used; i++) {
        PyObject *v = c->values[i];
        if (PyBytes_GET_SIZE(v) == len && memcmp(PyBytes_AS_STRING(v), p, (size_t)len) == 0) {
            Py_INCREF(v);
            return v;
        }
    }
    PyObject *v = PyBytes_FromStringAndSize((const char *)p, len);
    if (v != NULL && c->used < CACHE_SLOTS) {
        Py_INCREF(v);
        c->values[c->used++] = v;
    }
    return v;
}

static void
clear_cache(struct cache *c)
{
    for (int i = 0; i < c->used; i++) {
        Py_DECREF(c->values[i]);
    }
    c->used = 0;
}

static PyObject *
leaf_columns(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "leaf_columns() takes a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    PyObject *actors = PyTuple_New(n), *actions = PyTuple_New(n), *cases = PyTuple_New(n);
    PyObject *dash = PyBytes_FromStringAndSize("-", 1);
    PyObject *result = NULL;
    struct cache actor_cache = {{NULL}, 0}, action_cache = {{NULL}, 0};
    Py_ssize_t bad = -1;
    if (actors == NULL || actions == NULL || cases == NULL || dash == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *leaf = PyList_GET_ITEM(arg, i);
        if (!PyBytes_Check(leaf)) {
            PyErr_Format(PyExc_TypeError, "leaf %zd is not bytes", i);
            goto done;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(leaf);
        struct fields f;
        if (!check_leaf(p, PyBytes_GET_SIZE(leaf), &f)) {
            bad = i;
            break;
        }
        PyObject *actor = cached_bytes(&actor_cache, p + VERSION_LEN + TIME_LEN + 1, ACTOR_LEN);
        if (actor == NULL) {
            goto done;
        }
        PyTuple_SET_ITEM(actors, i, actor);
        PyObject *action = cached_bytes(&action_cache, p + f.action, f.action_len);
        if (action == NULL) {
            goto done;
        }
        PyTuple_SET_ITEM(actions, i, action);
        PyObject *case_;
        if (f.case_len == 1) {
            Py_INCREF(dash);
            case_ = dash;
        } else {
            case_ = PyBytes_FromStringAndSize((const char *)p + f.case_, f.case_len);
            if (case_ == NULL) {
                goto done;
            }
        }
        PyTuple_SET_ITEM(cases, i, case_);
    }
    if (bad >= 0) {
        /* The columns are of no use after a bad entry: return empty ones. */
        result = Py_BuildValue("(n()()())", bad);
    } else {
        result = Py_BuildValue("(nOOO)", (Py_ssize_t)-1, actors, actions, cases);
    }
done:
    /* A tuple left partly filled (after a bad entry or an error) holds NULLs, which
       its deallocation skips. */
    Py_XDECREF(actors);
    Py_XDECREF(actions);
    Py_XDECREF(cases);
    Py_XDECREF(dash);
    clear_cache(&actor_cache);
    clear_cache(&action_cache);
    return result;
}

static PyMethodDef methods[] = {
    {"leaf_hashes", leaf_hashes, METH_O,
     "SHA-256(0x00 || leaf) of each leaf in a list of bytes, concatenated."},
    {"levels", levels, METH_O,
     "Every level of the RFC 6962 tree over concatenated 32-byte leaf hashes, leaves first."},
    {"leaf_columns", leaf_columns, METH_O,
     "(first bad index or -1, actors, actions, cases) of a list of redress-log/1 leaves."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vault._native",
    .m_doc = "The access-log verifier's inner loops in C (see vault/_native.c).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
