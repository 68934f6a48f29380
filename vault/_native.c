/* vault._native: the access-log verifier's inner loops, in C.
 *
 * Three functions, each over byte strings Python has already split:
 *
 *   leaf_hashes(leaves)   SHA-256(0x00 || leaf) of each leaf, concatenated (32 bytes each)
 *   levels(hashes)        every level of the RFC 6962 tree over concatenated leaf hashes
 *   leaf_columns(leaves)  checks every leaf against the redress-log/1 form and returns
 *                         (first bad index or -1, first bad time or -1, actors, actions,
 *                         cases, details, commitment lengths, kinds): a bad time is one
 *                         that is no real date and time, or earlier than the entry
 *                         before's; kinds counts the entries by (actor, action, length of
 *                         case, detail, length of commitment), or is None when there were
 *                         too many distinct actors, actions or details
 *
 * vault/audit/merkle.py and vault/audit/verify.py hold the same operations in pure Python, and
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

/* OpenSSL's SHA256_* return 1, or 0 on failure (which its software and SHA-NI code never
 * report); a failure becomes a Python error rather than a silently wrong hash. */
static PyObject *
sha256_failed(PyObject *partial)
{
    Py_XDECREF(partial);
    PyErr_SetString(PyExc_RuntimeError, "SHA-256 failed inside OpenSSL");
    return NULL;
}

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
    SHA256_CTX start; /* the prefix hashed once, copied for each leaf */
    if (!SHA256_Init(&start) || !SHA256_Update(&start, &prefix, 1)) {
        return sha256_failed(out);
    }
    /* The GIL is held throughout, so the list cannot change under us. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *leaf = PyList_GET_ITEM(arg, i);
        if (!PyBytes_Check(leaf)) {
            Py_DECREF(out);
            PyErr_Format(PyExc_TypeError, "leaf %zd is not bytes", i);
            return NULL;
        }
        SHA256_CTX ctx = start;
        if (!SHA256_Update(&ctx, PyBytes_AS_STRING(leaf), (size_t)PyBytes_GET_SIZE(leaf)) ||
            !SHA256_Final(at + i * HASH_BYTES, &ctx)) {
            return sha256_failed(out);
        }
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
    SHA256_CTX start; /* the prefix hashed once, copied for each node */
    if (!SHA256_Init(&start) || !SHA256_Update(&start, &prefix, 1)) {
        return sha256_failed(result);
    }
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
            SHA256_CTX ctx = start;
            if (!SHA256_Update(&ctx, below + 2 * i * HASH_BYTES, 2 * HASH_BYTES) ||
                !SHA256_Final(out + i * HASH_BYTES, &ctx)) {
                Py_DECREF(next);
                return sha256_failed(result);
            }
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

/* --- the redress-log/1 form (vault/audit/leaves.py) ------------------------------------------ */

/* Which characters each field may hold, one bit per character class. */
enum {
    DIGIT = 1,        /* [0-9] */
    HEX = 2,          /* [0-9a-f] */
    ACTION = 4,       /* [a-z-] */
    CASE = 8,         /* Crockford base32, upper case: [0-9A-HJKMNP-TV-Z] */
    DETAIL_FIRST = 16, /* [a-z0-9] */
    DETAIL = 32,      /* [a-z0-9-] */
};
static unsigned char classes[256];

static void
init_classes(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        int digit = c >= '0' && c <= '9', lower = c >= 'a' && c <= 'z';
        int upper = c >= 'A' && c <= 'Z';
        if (digit) k |= DIGIT;
        if (digit || (c >= 'a' && c <= 'f')) k |= HEX;
        if (lower || c == '-') k |= ACTION;
        if (digit || (upper && c != 'I' && c != 'L' && c != 'O' && c != 'U')) k |= CASE;
        if (lower || digit) k |= DETAIL_FIRST;
        if (lower || digit || c == '-') k |= DETAIL;
        classes[c] = k;
    }
}

/* 1 if every byte of p[0:n] is of the class. */
static int
all_of(const unsigned char *p, Py_ssize_t n, unsigned char class)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(classes[p[i]] & class)) {
            return 0;
        }
    }
    return 1;
}

static const char VERSION[] = "redress-log/1 ";
#define VERSION_LEN ((Py_ssize_t)sizeof(VERSION) - 1)
/* "2026-11-24T09:15:02Z": D for a digit, anything else literally. */
static const char TIME_FORM[] = "DDDD-DD-DDTDD:DD:DDZ";
#define TIME_LEN ((Py_ssize_t)sizeof(TIME_FORM) - 1)
#define ACTOR_AT (VERSION_LEN + TIME_LEN + 1)
#define ACTOR_LEN 16
#define ACTION_AT (ACTOR_AT + ACTOR_LEN + 1)
#define CASE_LEN 8
#define DETAIL_MAX 64
#define COMMIT_LEN 64

/* Where one leaf's action and case lie, once it has been found to be in the form. */
struct fields {
    Py_ssize_t action, action_len, case_, case_len, detail, detail_len, commit_len;
};

/* The end of the field that starts at p[at], before n: the next space, or n if there is
   none. A field always ends inside the leaf, so this never reads past p[n - 1]. */
static Py_ssize_t
field_end(const unsigned char *p, Py_ssize_t at, Py_ssize_t n)
{
    const unsigned char *space = memchr(p + at, ' ', (size_t)(n - at));
    return space == NULL ? n : space - p;
}

static int
is_dash(const unsigned char *p, Py_ssize_t at, Py_ssize_t end)
{
    return end - at == 1 && p[at] == '-';
}

/* 1 if p[0:n] is one leaf in the redress-log/1 form, exactly as vault.audit.leaves.LINES says:
   seven fields, each separated from the next by one space. */
static int
check_leaf(const unsigned char *p, Py_ssize_t n, struct fields *f)
{
    Py_ssize_t at, end, i;
    /* The fixed-width start: version, time, actor, and the space after each. */
    if (n < ACTION_AT || memcmp(p, VERSION, (size_t)VERSION_LEN) != 0) {
        return 0;
    }
    for (i = 0; i < TIME_LEN; i++) {
        unsigned char c = p[VERSION_LEN + i];
        if (TIME_FORM[i] == 'D' ? !(classes[c] & DIGIT) : c != (unsigned char)TIME_FORM[i]) {
            return 0;
        }
    }
    if (p[ACTOR_AT - 1] != ' ' || !all_of(p + ACTOR_AT, ACTOR_LEN, HEX) ||
        p[ACTION_AT - 1] != ' ') {
        return 0;
    }
    /* the action: [a-z-]+ */
    at = ACTION_AT;
    end = field_end(p, at, n);
    if (end == n || end == at || !all_of(p + at, end - at, ACTION)) {
        return 0;
    }
    f->action = at;
    f->action_len = end - at;
    /* the case: 8 Crockford characters, or - */
    at = end + 1;
    end = field_end(p, at, n);
    if (end == n || !(is_dash(p, at, end) || (end - at == CASE_LEN &&
                                               all_of(p + at, CASE_LEN, CASE)))) {
        return 0;
    }
    f->case_ = at;
    f->case_len = end - at;
    /* the detail: [a-z0-9][a-z0-9-]{0,63}, or - */
    at = end + 1;
    end = field_end(p, at, n);
    if (end == n || !(is_dash(p, at, end) ||
                      (end - at >= 1 && end - at <= DETAIL_MAX &&
                       (classes[p[at]] & DETAIL_FIRST) &&
                       all_of(p + at + 1, end - at - 1, DETAIL)))) {
        return 0;
    }
    f->detail = at;
    f->detail_len = end - at;
    /* the commitment, to the end of the leaf: 64 hex digits, or - */
    at = end + 1;
    end = field_end(p, at, n);
    if (end != n || !(is_dash(p, at, end) || (end - at == COMMIT_LEN &&
                                               all_of(p + at, COMMIT_LEN, HEX)))) {
        return 0;
    }
    f->commit_len = end - at;
    return 1;
}

/* --- times: real dates, never going back ---------------------------------------------- */

static int
number_at(const unsigned char *p, int digits)
{
    int n = 0;
    for (int i = 0; i < digits; i++) {
        n = n * 10 + (p[i] - '0');
    }
    return n;
}

/* 1 if the time at t (20 bytes already in the form "DDDD-DD-DDTDD:DD:DDZ") is a real UTC
   date and time: year from 1, month 1-12, a day the month has (29 February in leap years),
   hours 0-23, minutes and seconds 0-59. The same rule as Python's datetime. */
static int
real_time(const unsigned char *t)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = number_at(t, 4), month = number_at(t + 5, 2), day = number_at(t + 8, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return 0;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int most = days[month - 1] + (month == 2 && leap);
    return day <= most && number_at(t + 11, 2) < 24 && number_at(t + 14, 2) < 60 &&
           number_at(t + 17, 2) < 60;
}

/* A few distinct small values (actors, actions), kept as one bytes object each so that a
   column of a million entries holds a million references, not a million copies. */
#define SLOTS 64
struct cache {
    PyObject *values[SLOTS];
    int used;
};

/* A new reference to bytes equal to p[0:len], and in *slot its place in the cache (or -1
   when the cache was full). */
static PyObject *
cached_bytes(struct cache *c, const unsigned char *p, Py_ssize_t len, int *slot)
{
    for (int i = 0; i < c->used; i++) {
        PyObject *v = c->values[i];
        if (PyBytes_GET_SIZE(v) == len && memcmp(PyBytes_AS_STRING(v), p, (size_t)len) == 0) {
            Py_INCREF(v);
            *slot = i;
            return v;
        }
    }
    PyObject *v = PyBytes_FromStringAndSize((const char *)p, len);
    *slot = -1;
    if (v != NULL && c->used < SLOTS) {
        Py_INCREF(v);
        *slot = c->used;
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

/* Where an entry is counted: by slot of actor, action and detail, and whether it names a
   case and carries a commitment. */
#define KIND(actor, action, has_case, detail, has_commit) \
    ((((((Py_ssize_t)(actor) * SLOTS + (action)) * 2 + (has_case)) * SLOTS + (detail)) * 2) + \
     (has_commit))
#define KINDS ((Py_ssize_t)SLOTS * SLOTS * 2 * SLOTS * 2)

/* {(actor, action, length of case, detail, length of commitment): entries} from the counts
   by slot. */
static PyObject *
kinds_dict(const Py_ssize_t *counts, struct cache *actors, struct cache *actions,
           struct cache *details)
{
    PyObject *kinds = PyDict_New();
    if (kinds == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < KINDS; k++) {
        Py_ssize_t count = counts[k];
        if (count == 0) {
            continue;
        }
        int has_commit = (int)(k % 2), d = (int)(k / 2 % SLOTS);
        int has_case = (int)(k / 2 / SLOTS % 2), b = (int)(k / 2 / SLOTS / 2 % SLOTS);
        int a = (int)(k / 2 / SLOTS / 2 / SLOTS);
        PyObject *key = Py_BuildValue("(OOiOi)", actors->values[a], actions->values[b],
                                      has_case ? CASE_LEN : 1, details->values[d],
                                      has_commit ? COMMIT_LEN : 1);
        PyObject *value = PyLong_FromSsize_t(count);
        int failed = key == NULL || value == NULL || PyDict_SetItem(kinds, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(kinds);
            return NULL;
        }
    }
    return kinds;
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
    PyObject *details = PyTuple_New(n), *commits = PyBytes_FromStringAndSize(NULL, n);
    PyObject *dash = PyBytes_FromStringAndSize("-", 1);
    Py_ssize_t *counts = PyMem_Calloc((size_t)KINDS, sizeof(Py_ssize_t));
    PyObject *kinds = NULL, *result = NULL;
    struct cache actor_cache = {{NULL}, 0}, action_cache = {{NULL}, 0};
    struct cache detail_cache = {{NULL}, 0};
    Py_ssize_t bad = -1, bad_time = -1;
    const unsigned char *previous_time = NULL;
    int counted = 1; /* every entry's actor, action and detail had a slot */
    if (actors == NULL || actions == NULL || cases == NULL || details == NULL ||
        commits == NULL || dash == NULL) {
        goto done;
    }
    if (counts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* "-", the commonest detail, in the first slot: found at once */
    Py_INCREF(dash);
    detail_cache.values[detail_cache.used++] = dash;
    unsigned char *commit_lengths = (unsigned char *)PyBytes_AS_STRING(commits);
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
        const unsigned char *time = p + VERSION_LEN;
        if (bad_time < 0 && (!real_time(time) || (previous_time != NULL &&
                                                   memcmp(time, previous_time, TIME_LEN) < 0))) {
            bad_time = i;
        }
        previous_time = time; /* the list holds the leaf, so this stays valid */
        int actor_slot, action_slot, detail_slot;
        PyObject *actor = cached_bytes(&actor_cache, p + ACTOR_AT, ACTOR_LEN, &actor_slot);
        if (actor == NULL) {
            goto done;
        }
        PyTuple_SET_ITEM(actors, i, actor);
        PyObject *action = cached_bytes(&action_cache, p + f.action, f.action_len, &action_slot);
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
        PyObject *detail = cached_bytes(&detail_cache, p + f.detail, f.detail_len, &detail_slot);
        if (detail == NULL) {
            goto done;
        }
        PyTuple_SET_ITEM(details, i, detail);
        commit_lengths[i] = (unsigned char)f.commit_len;
        if (actor_slot < 0 || action_slot < 0 || detail_slot < 0) {
            counted = 0;
        } else {
            counts[KIND(actor_slot, action_slot, f.case_len != 1, detail_slot,
                        f.commit_len != 1)] += 1;
        }
    }
    if (bad >= 0) {
        /* The columns are of no use after a bad entry: return empty ones. */
        result = Py_BuildValue("(nn()()()()y#O)", bad, (Py_ssize_t)-1, "", (Py_ssize_t)0,
                               Py_None);
        goto done;
    }
    if (counted) {
        kinds = kinds_dict(counts, &actor_cache, &action_cache, &detail_cache);
        if (kinds == NULL) {
            goto done;
        }
    } else {
        Py_INCREF(Py_None);
        kinds = Py_None;
    }
    result = Py_BuildValue("(nnOOOOOO)", (Py_ssize_t)-1, bad_time, actors, actions, cases,
                           details, commits, kinds);
done:
    /* A tuple left partly filled (after a bad entry or an error) holds NULLs, which
       its deallocation skips. */
    Py_XDECREF(actors);
    Py_XDECREF(actions);
    Py_XDECREF(cases);
    Py_XDECREF(details);
    Py_XDECREF(commits);
    Py_XDECREF(dash);
    Py_XDECREF(kinds);
    PyMem_Free(counts);
    clear_cache(&actor_cache);
    clear_cache(&action_cache);
    clear_cache(&detail_cache);
    return result;
}

static PyMethodDef methods[] = {
    {"leaf_hashes", leaf_hashes, METH_O,
     "SHA-256(0x00 || leaf) of each leaf in a list of bytes, concatenated."},
    {"levels", levels, METH_O,
     "Every level of the RFC 6962 tree over concatenated 32-byte leaf hashes, leaves first."},
    {"leaf_columns", leaf_columns, METH_O,
     "(first bad index or -1, first bad time or -1, actors, actions, cases, details,"
     " commitment lengths, kinds or None) of redress-log/1 leaves."},
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
    init_classes();
    return PyModule_Create(&module);
}
