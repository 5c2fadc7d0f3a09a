/* The guard's per-question arithmetic in C: what runs on every eligibility question, where the
 * interpreter spent a few microseconds (a tenth of the question) on loops of float operations.
 *
 * Invariant: each function computes exactly what its pure-Python twin computes (gcra.py,
 * risk.py), the same IEEE operations in the same order (built with -ffp-contract=off: no fused
 * multiply-add), so that both give bit-identical states; tests/guard/test_speedups.py compares
 * them on random input. Python stays the reference, and runs where this module is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>

#define STACK_WINDOWS 16

/* A window (slot, interval, period) of gcra.MemoryQuotaStore, read from its tuple. */
static int
read_window(PyObject *window, Py_ssize_t size, Py_ssize_t *slot, double *interval,
            double *period)
{
    if (!PyTuple_CheckExact(window) || PyTuple_GET_SIZE(window) != 3) {
        PyErr_SetString(PyExc_TypeError, "a window is a (slot, interval, period) tuple");
        return -1;
    }
    *slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(window, 0));
    if (*slot == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (*slot < 0 || *slot >= size) {
        PyErr_SetString(PyExc_IndexError, "a window's slot is out of range");
        return -1;
    }
    *interval = PyFloat_AsDouble(PyTuple_GET_ITEM(window, 1));
    if (*interval == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *period = PyFloat_AsDouble(PyTuple_GET_ITEM(window, 2));
    if (*period == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

/* take(tats, windows, now, slack) -> float: gcra.take_in_one_pass. */
static PyObject *
take(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "take(tats, windows, now, slack)");
        return NULL;
    }
    PyObject *windows = args[1];
    if (!PyTuple_CheckExact(windows)) {
        PyErr_SetString(PyExc_TypeError, "windows is a tuple");
        return NULL;
    }
    double now = PyFloat_AsDouble(args[2]);
    if (now == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double slack = PyFloat_AsDouble(args[3]);
    if (slack == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer buffer;
    if (PyObject_GetBuffer(args[0], &buffer, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        return NULL;
    }
    if (buffer.itemsize != sizeof(double) || buffer.format == NULL
        || strcmp(buffer.format, "d") != 0) {
        PyBuffer_Release(&buffer);
        PyErr_SetString(PyExc_TypeError, "tats is an array of doubles");
        return NULL;
    }
    double *tats = (double *)buffer.buf;
    Py_ssize_t size = buffer.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t n = PyTuple_GET_SIZE(windows);
    Py_ssize_t stack_slots[STACK_WINDOWS];
    double stack_before[STACK_WINDOWS];
    Py_ssize_t *slots = stack_slots;
    double *before = stack_before;
    if (n > STACK_WINDOWS) {
        slots = PyMem_Malloc(n * sizeof(Py_ssize_t));
        before = PyMem_Malloc(n * sizeof(double));
        if (slots == NULL || before == NULL) {
            PyMem_Free(slots);
            PyMem_Free(before);
            PyBuffer_Release(&buffer);
            return PyErr_NoMemory();
        }
    }
    PyObject *result = NULL;
    Py_ssize_t i;
    /* One pass, charging as it goes; a refusal puts back what was charged. */
    for (i = 0; i < n; i++) {
        Py_ssize_t slot;
        double interval, period;
        if (read_window(PyTuple_GET_ITEM(windows, i), size, &slot, &interval, &period) < 0) {
            goto fail;
        }
        slots[i] = slot;
        double tat = before[i] = tats[slot];
        if (tat > now) {
            if (tat + interval - period - now > slack) {
                break;
            }
            tats[slot] = tat + interval;
        }
        else {
            tats[slot] = now + interval;
        }
    }
    if (i == n) {
        result = PyFloat_FromDouble(0.0);
        goto done;
    }
    for (Py_ssize_t j = 0; j < i; j++) {
        tats[slots[j]] = before[j];
    }
    /* The longest wait, as Python's max() picks it: the first of the largest. */
    double longest = 0.0;
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_ssize_t slot;
        double interval, period;
        if (read_window(PyTuple_GET_ITEM(windows, j), size, &slot, &interval, &period) < 0) {
            goto fail;
        }
        double tat = tats[slot];
        double wait = (tat > now ? tat : now) + interval - period - now;
        if (j == 0 || wait > longest) {
            longest = wait;
        }
    }
    result = PyFloat_FromDouble(longest);
    goto done;
fail:
    /* A malformed window: nothing stays charged. */
    for (Py_ssize_t j = 0; j < i; j++) {
        tats[slots[j]] = before[j];
    }
done:
    if (slots != stack_slots) {
        PyMem_Free(slots);
        PyMem_Free(before);
    }
    PyBuffer_Release(&buffer);
    return result;
}


/* --- risk.AccountState.learn ------------------------------------------------------------------
 * The state stays in the Python objects (slotted dataclasses: AccountState, Caller, Shares,
 * Peers), read and written through their slots, whose offsets bind() takes from the classes'
 * member descriptors once: Python code reads and writes the same fields as ever. */

#include <structmember.h>

enum {
    /* AccountState */
    F_CALLER, F_HOUR_START, F_HOUR_END, F_HOUR_COUNT, F_DAY_COUNT, F_QUESTIONS, F_SEEN,
    F_SEEN_BEFORE, F_OFF_NOW, F_ESTIMATES_DAY, F_PENDING_ESTIMATES, F_THROTTLE_TIMES,
    F_BASELINE, F_ORPHANS, F_ORIGINS, F_PEERS, F_VIEWS, F_SLOWED_AT, F_CHECKS,
    /* Caller */
    F_DEPARTEMENT, C_ACCOUNT, C_STRUCTURE,
    /* Shares */
    S_QUESTIONS, S_NEGATIVE, S_FAR, S_UNSEEN, S_STRANGER, S_SEQUENCE, S_OFF, S_CARDLESS,
    S_LAST_SERIES, S_LAST_ORDER,
    /* Peers */
    P_NEGATIVE, P_FAR, P_UNSEEN, P_STRANGER, P_OFF_HOURS, P_CARDLESS, P_DAILY,
    /* signals.Platform */
    L_ACCOUNTS_ON_ORIGIN, L_BURST,
    /* redis_quotas.Lease */
    E_UNITS, E_EXPIRES, E_CAP, E_SIZE, E_LAST, E_REFILLING, E_KEY, E_SPEC,
    FIELDS
};

static const struct {
    int owner; /* 0 AccountState, 1 Caller, 2 Shares, 3 Peers (bind), 4 Platform (bind_signals),
                * 5 Lease (bind_leases) */
    const char *name;
} field_names[FIELDS] = {
    {0, "caller"}, {0, "hour_start"}, {0, "hour_end"}, {0, "hour_count"}, {0, "day_count"},
    {0, "questions"}, {0, "seen"}, {0, "seen_before"}, {0, "off_now"}, {0, "estimates_day"},
    {0, "pending_estimates"}, {0, "throttle_times"}, {0, "baseline"}, {0, "orphans"},
    {0, "origins"}, {0, "peers"}, {0, "views"}, {0, "slowed_at"}, {0, "checks"},
    {1, "departement"}, {1, "account"}, {1, "structure"},
    {2, "questions"}, {2, "negative"}, {2, "far"}, {2, "unseen"}, {2, "stranger"},
    {2, "sequence"}, {2, "off"}, {2, "cardless"}, {2, "last_series"}, {2, "last_order"},
    {3, "negative"}, {3, "far"}, {3, "unseen"}, {3, "stranger"}, {3, "off_hours"},
    {3, "cardless"}, {3, "daily"},
    {4, "accounts_on_origin"}, {4, "burst"},
    {5, "units"}, {5, "expires"}, {5, "cap"}, {5, "size"}, {5, "last"}, {5, "refilling"},
    {5, "key"}, {5, "spec"},
};

#define OWNERS 6
static Py_ssize_t offsets[FIELDS];
static PyTypeObject *owners[OWNERS]; /* bound classes (references held) */
static double alpha, cardless_alpha, peer_step, late;
static Py_ssize_t seen_generation;
static PyObject *enter_slot_name;
static int bound;

/* Note the slots of the fields of ``types`` (owners first..first + count - 1): each a slot of its
 * class (or a base): a descriptor borrowed from another class would name an offset in another
 * layout. Nothing changes unless all are found. */
static int
bind_owners(PyObject **types, int first, int count)
{
    Py_ssize_t found[FIELDS];
    for (int i = 0; i < FIELDS; i++) {
        int owner = field_names[i].owner;
        if (owner < first || owner >= first + count) {
            continue;
        }
        PyObject *type = types[owner - first];
        PyObject *descr = PyObject_GetAttrString(type, field_names[i].name);
        if (descr == NULL) {
            return -1;
        }
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX
                 && PyType_IsSubtype((PyTypeObject *)type,
                                     ((PyMemberDescrObject *)descr)->d_common.d_type);
        if (ok) {
            found[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot", field_names[i].name);
            return -1;
        }
    }
    for (int i = 0; i < FIELDS; i++) {
        int owner = field_names[i].owner;
        if (owner >= first && owner < first + count) {
            offsets[i] = found[i];
        }
    }
    for (int i = 0; i < count; i++) {
        Py_INCREF(types[i]);
        Py_XSETREF(owners[first + i], (PyTypeObject *)types[i]);
    }
    return 0;
}

/* bind(AccountState, Caller, Shares, Peers, alpha, cardless_alpha, peer_step, seen_generation,
 * late): note each field's slot and the constants (risk.py's, not copied here). */
static PyObject *
bind(PyObject *module, PyObject *args)
{
    PyObject *types[4];
    double a, ca, ps, lt;
    Py_ssize_t generation;
    if (!PyArg_ParseTuple(args, "O!O!O!O!dddnd:bind", &PyType_Type, &types[0], &PyType_Type,
                          &types[1], &PyType_Type, &types[2], &PyType_Type, &types[3], &a, &ca,
                          &ps, &generation, &lt)) {
        return NULL;
    }
    if (bind_owners(types, 0, 4) < 0) {
        return NULL;
    }
    alpha = a;
    cardless_alpha = ca;
    peer_step = ps;
    seen_generation = generation;
    late = lt;
    bound = 1;
    Py_RETURN_NONE;
}

/* A slot's value (borrowed); AttributeError when unset. */
static PyObject *
get(PyObject *obj, int field)
{
    PyObject *value = *(PyObject **)((char *)obj + offsets[field]);
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "%s is not set", field_names[field].name);
    }
    return value;
}

/* A slot's value, as a new reference; AttributeError when unset. */
static PyObject *
got(PyObject *obj, int field)
{
    PyObject *value = get(obj, field);
    Py_XINCREF(value);
    return value;
}

/* The truth of ``value`` (a new reference, released here): 1, 0, or -1 on an error (NULL: an
 * error already raised). */
static int
truth(PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* Set a slot to ``value`` (stolen; NULL: an error already raised). */
static int
put(PyObject *obj, int field, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    Py_XSETREF(*(PyObject **)((char *)obj + offsets[field]), value);
    return 0;
}

static int
get_double(PyObject *obj, int field, double *out)
{
    PyObject *value = get(obj, field);
    if (value == NULL) {
        return -1;
    }
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 0;
    }
    /* An int: Python converts it the same way (held: a __float__ could replace the slot). */
    Py_INCREF(value);
    *out = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* obj.field += 1 */
static int
increment(PyObject *obj, int field)
{
    static PyObject *one;
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) {
        return -1;
    }
    PyObject *value = got(obj, field); /* held: an __add__ could replace the slot */
    if (value == NULL) {
        return -1;
    }
    PyObject *next = PyNumber_Add(value, one);
    Py_DECREF(value);
    return put(obj, field, next);
}

/* obj.field += rate * (x - obj.field) */
static int
move(PyObject *obj, int field, double rate, double x)
{
    double value;
    if (get_double(obj, field, &value) < 0) {
        return -1;
    }
    return put(obj, field, PyFloat_FromDouble(value + rate * (x - value)));
}

/* 0 < abs(order - last) <= 3 */
static int
near_order(PyObject *order, PyObject *last)
{
    int overflow_a, overflow_b;
    long long a = PyLong_AsLongLongAndOverflow(order, &overflow_a);
    if (a == -1 && PyErr_Occurred()) {
        return -1;
    }
    long long b = PyLong_AsLongLongAndOverflow(last, &overflow_b);
    if (b == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!overflow_a && !overflow_b && a > -(1LL << 62) && a < (1LL << 62) && b > -(1LL << 62)
        && b < (1LL << 62)) {
        long long d = a > b ? a - b : b - a;
        return d > 0 && d <= 3;
    }
    /* Far from three digits: as Python computes it. */
    PyObject *difference = PyNumber_Subtract(order, last);
    if (difference == NULL) {
        return -1;
    }
    PyObject *distance = PyNumber_Absolute(difference);
    Py_DECREF(difference);
    if (distance == NULL) {
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0), *three = PyLong_FromLong(3);
    int above = zero ? PyObject_RichCompareBool(zero, distance, Py_LT) : -1;
    int within = three && above == 1 ? PyObject_RichCompareBool(distance, three, Py_LE) : 0;
    Py_XDECREF(zero);
    Py_XDECREF(three);
    Py_DECREF(distance);
    if (above < 0 || within < 0) {
        return -1;
    }
    return above && within;
}

/* Whether ``patient`` is in neither generation of the account's patients; if so, it joins the
 * current one (a full generation becomes the one before, the one before is forgotten).
 * 1, 0, or -1 on an error. */
static int
not_seen(PyObject *st, PyObject *patient)
{
    PyObject *seen = got(st, F_SEEN);
    if (seen == NULL) {
        return -1;
    }
    int found = PySet_Contains(seen, patient);
    if (found == 0) {
        PyObject *before = got(st, F_SEEN_BEFORE);
        found = before ? PySet_Contains(before, patient) : -1;
        Py_XDECREF(before);
    }
    if (found != 0) {
        Py_DECREF(seen);
        return found < 0 ? -1 : 0;
    }
    Py_ssize_t size = PySet_Size(seen);
    if (size >= 0 && size >= seen_generation) {
        /* seen_before, seen = seen, set() */
        PyObject *fresh = PySet_New(NULL);
        if (fresh == NULL || put(st, F_SEEN_BEFORE, Py_NewRef(seen)) < 0
            || put(st, F_SEEN, Py_NewRef(fresh)) < 0) {
            Py_XDECREF(fresh);
            Py_DECREF(seen);
            return -1;
        }
        Py_SETREF(seen, fresh);
    }
    int added = size < 0 ? -1 : PySet_Add(seen, patient);
    Py_DECREF(seen);
    return added < 0 ? -1 : 1;
}

/* learn(st, q, positive, now, peers, view) -> bool: risk.AccountState.learn. */
static PyObject *
learn(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "learn(st, q, positive, now, peers, view)");
        return NULL;
    }
    if (!bound) {
        PyErr_SetString(PyExc_RuntimeError, "bind() first");
        return NULL;
    }
    PyObject *st = args[0], *q = args[1], *peers = args[4], *v = args[5];
    if (!PyObject_TypeCheck(st, owners[0]) || !PyObject_TypeCheck(peers, owners[3])
        || !PyObject_TypeCheck(v, owners[2])) {
        PyErr_SetString(PyExc_TypeError, "learn(AccountState, Question, bool, float, Peers, Shares)");
        return NULL;
    }
    if (!PyTuple_Check(q) || PyTuple_GET_SIZE(q) != 6) {
        PyErr_SetString(PyExc_TypeError, "a question has six fields");
        return NULL;
    }
    PyObject *patient = PyTuple_GET_ITEM(q, 0), *departement = PyTuple_GET_ITEM(q, 1);
    PyObject *series = PyTuple_GET_ITEM(q, 2), *order = PyTuple_GET_ITEM(q, 3);
    /* Tested before anything changes (Python tests them later, on the way: only an object
     * whose truth test fails, which no question holds, would tell the two apart). */
    int cardless = PyObject_IsTrue(PyTuple_GET_ITEM(q, 4));
    if (cardless < 0) {
        return NULL;
    }
    int agree = PyObject_IsTrue(PyTuple_GET_ITEM(q, 5));
    if (agree < 0) {
        return NULL;
    }
    int positive = PyObject_IsTrue(args[2]);
    if (positive < 0) {
        return NULL;
    }
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double start, end;
    if (get_double(st, F_HOUR_START, &start) < 0 || get_double(st, F_HOUR_END, &end) < 0) {
        return NULL;
    }
    if (!(start - late <= now && now < end)) {
        PyObject *done = PyObject_CallMethodObjArgs(st, enter_slot_name, args[3], peers, NULL);
        if (done == NULL) {
            return NULL;
        }
        Py_DECREF(done);
    }
    if (increment(st, F_HOUR_COUNT) < 0 || increment(st, F_DAY_COUNT) < 0
        || increment(st, F_QUESTIONS) < 0) {
        return NULL;
    }
    /* Strong references to what comparisons and set lookups read: an __eq__ or __hash__ run
     * meanwhile (none does on the ints and strs of a question) could replace a slot. */
    PyObject *caller = got(st, F_CALLER);
    if (caller == NULL) {
        return NULL;
    }
    PyObject *home = PyObject_TypeCheck(caller, owners[1]) ? got(caller, F_DEPARTEMENT) : NULL;
    if (home == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "an account's caller is a Caller");
    }
    Py_DECREF(caller);
    if (home == NULL) {
        return NULL;
    }
    int far = PyObject_RichCompareBool(departement, home, Py_NE);
    Py_DECREF(home);
    if (far < 0) {
        return NULL;
    }
    int unseen = not_seen(st, patient);
    if (unseen < 0) {
        return NULL;
    }
    int off = truth(got(st, F_OFF_NOW));
    if (off < 0) {
        return NULL;
    }
    PyObject *last_series = got(v, S_LAST_SERIES);
    if (last_series == NULL) {
        return NULL;
    }
    int sequential = PyObject_RichCompareBool(series, last_series, Py_EQ);
    Py_DECREF(last_series);
    if (sequential > 0) {
        PyObject *last_order = got(v, S_LAST_ORDER);
        if (last_order == NULL) {
            return NULL;
        }
        sequential = near_order(order, last_order);
        Py_DECREF(last_order);
    }
    if (sequential < 0) {
        return NULL;
    }
    Py_INCREF(series);
    Py_INCREF(order);
    if (put(v, S_LAST_SERIES, series) < 0 || put(v, S_LAST_ORDER, order) < 0) {
        return NULL;
    }
    double a = cardless ? cardless_alpha : alpha;
    double x_negative = positive ? 0.0 : 1.0;
    double x_far = far ? 1.0 : 0.0;
    double x_unseen = unseen ? 1.0 : 0.0;
    double x_stranger = far && unseen ? 1.0 : 0.0;
    double x_off = off ? 1.0 : 0.0;
    double x_cardless = cardless ? 1.0 : 0.0;
    if (increment(v, S_QUESTIONS) < 0 || move(v, S_NEGATIVE, a, x_negative) < 0
        || move(v, S_FAR, a, x_far) < 0 || move(v, S_UNSEEN, a, x_unseen) < 0
        || move(v, S_STRANGER, a, x_stranger) < 0
        || move(v, S_SEQUENCE, a, sequential ? 1.0 : 0.0) < 0 || move(v, S_OFF, a, x_off) < 0
        || move(v, S_CARDLESS, a, x_cardless) < 0) {
        return NULL;
    }
    PyObject *pending = get(st, F_PENDING_ESTIMATES);
    if (pending == NULL) {
        return NULL;
    }
    if (agree) {
        if (PySet_Discard(pending, patient) < 0) {
            return NULL;
        }
    }
    else if (positive) {
        if (increment(st, F_ESTIMATES_DAY) < 0 || PySet_Add(pending, patient) < 0) {
            return NULL;
        }
    }
    if (move(peers, P_NEGATIVE, peer_step, x_negative) < 0
        || move(peers, P_FAR, peer_step, x_far) < 0
        || move(peers, P_UNSEEN, peer_step, x_unseen) < 0
        || move(peers, P_STRANGER, peer_step, x_stranger) < 0
        || move(peers, P_OFF_HOURS, peer_step, x_off) < 0
        || move(peers, P_CARDLESS, peer_step, x_cardless) < 0) {
        return NULL;
    }
    return PyBool_FromLong(far && unseen);
}

/* --- signals.assess, its usual answer ----------------------------------------------------------
 * Whether no signal fires: the same comparisons as assess(), on the same slots. What it does not
 * read as plainly (a number of another type, an int beyond 2**50, a bool that is not one) it
 * leaves to assess(): quiet() then says no, and the caller asks assess(), which is always right. */

static double throttle_memory, new_origin_memory;
static long long shared_origin;
static int signals_bound;

/* bind_signals(Platform, throttle_memory, new_origin_memory, shared_origin) */
static PyObject *
bind_signals(PyObject *module, PyObject *args)
{
    PyObject *types[1];
    double tm, nom;
    long long so;
    if (!PyArg_ParseTuple(args, "O!ddL:bind_signals", &PyType_Type, &types[0], &tm, &nom, &so)) {
        return NULL;
    }
    if (bind_owners(types, 4, 1) < 0) {
        return NULL;
    }
    throttle_memory = tm;
    new_origin_memory = nom;
    shared_origin = so;
    signals_bound = 1;
    Py_RETURN_NONE;
}

#define EXACT_INT (1LL << 50)

/* A number as a double, exactly: a float, or an int within 2**50 (its comparisons with floats,
 * and its products by assess()'s small factors, are then Python's). 0 for anything else. */
static int
plain_double(PyObject *value, double *out)
{
    if (value == NULL) {
        return 0;
    }
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || v > EXACT_INT || v < -EXACT_INT) {
            return 0;
        }
        *out = (double)v;
        return 1;
    }
    return 0;
}

static int
slot_double(PyObject *obj, int field, double *out)
{
    return plain_double(*(PyObject **)((char *)obj + offsets[field]), out);
}

/* The account's last quota refusals within throttle_memory of now; -1: not plain floats. */
static Py_ssize_t
recent_throttles(PyObject *times, double now)
{
    Py_ssize_t n = PyList_GET_SIZE(times), recent = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(times, i);
        if (!PyFloat_CheckExact(t)) {
            return -1;
        }
        recent += now - PyFloat_AS_DOUBLE(t) < throttle_memory;
    }
    return recent;
}

/* AccountState.new_origin, for an account with two origins or more: 1, 0, -1 not plain. */
static int
new_origin(PyObject *origins, double now)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    double latest = 0.0;
    int first = 1;
    while (PyDict_Next(origins, &pos, &key, &value)) {
        if (!PyFloat_CheckExact(value)) {
            return -1;
        }
        double since = PyFloat_AS_DOUBLE(value);
        if (first || since > latest) { /* max(): the first of the largest */
            latest = since;
            first = 0;
        }
    }
    return now - latest < new_origin_memory;
}

/* quiet(st, v, peers, platform, now) -> bool: True when assess() would return no signal. */
static PyObject *
quiet(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "quiet(st, v, peers, platform, now)");
        return NULL;
    }
    if (!bound || !signals_bound) {
        PyErr_SetString(PyExc_RuntimeError, "bind() and bind_signals() first");
        return NULL;
    }
    PyObject *st = args[0], *v = args[1], *peers = args[2], *platform = args[3];
    if (!PyObject_TypeCheck(st, owners[0]) || !PyObject_TypeCheck(v, owners[2])
        || !PyObject_TypeCheck(peers, owners[3]) || !PyObject_TypeCheck(platform, owners[4])) {
        PyErr_SetString(PyExc_TypeError, "quiet(AccountState, Shares, Peers, Platform, float)");
        return NULL;
    }
    double now = PyFloat_AsDouble(args[4]);
    if (now == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    /* Read without a Python call in between: no slot can change meanwhile. */
    PyObject *times = *(PyObject **)((char *)st + offsets[F_THROTTLE_TIMES]);
    PyObject *origins = *(PyObject **)((char *)st + offsets[F_ORIGINS]);
    PyObject *burst = *(PyObject **)((char *)platform + offsets[L_BURST]);
    PyObject *shared = *(PyObject **)((char *)platform + offsets[L_ACCOUNTS_ON_ORIGIN]);
    double baseline, hour_count, day_count, orphans, daily;
    double questions, negative, far, unseen, stranger, sequence, off, cardless;
    double p_far, p_stranger, p_off;
    if (times == NULL || !PyList_CheckExact(times) || origins == NULL
        || !PyDict_CheckExact(origins) || burst != Py_False || shared == NULL
        || !PyLong_CheckExact(shared) || !slot_double(st, F_BASELINE, &baseline)
        || !slot_double(st, F_HOUR_COUNT, &hour_count)
        || !slot_double(st, F_DAY_COUNT, &day_count) || !slot_double(st, F_ORPHANS, &orphans)
        || !slot_double(peers, P_DAILY, &daily) || !slot_double(peers, P_FAR, &p_far)
        || !slot_double(peers, P_STRANGER, &p_stranger)
        || !slot_double(peers, P_OFF_HOURS, &p_off)
        || !slot_double(v, S_QUESTIONS, &questions) || !slot_double(v, S_NEGATIVE, &negative)
        || !slot_double(v, S_FAR, &far) || !slot_double(v, S_UNSEEN, &unseen)
        || !slot_double(v, S_STRANGER, &stranger) || !slot_double(v, S_SEQUENCE, &sequence)
        || !slot_double(v, S_OFF, &off) || !slot_double(v, S_CARDLESS, &cardless)) {
        Py_RETURN_FALSE; /* not read plainly: assess() judges */
    }
    if (PyList_GET_SIZE(times) >= 2) {
        Py_ssize_t recent = recent_throttles(times, now);
        if (recent < 0 || recent >= 2) {
            Py_RETURN_FALSE;
        }
    }
    int overflow;
    long long accounts = PyLong_AsLongLongAndOverflow(shared, &overflow);
    if (overflow || accounts >= shared_origin) {
        Py_RETURN_FALSE;
    }
    /* assess()'s thresholds, in its order (signals.py is the table they come from). */
    double own = baseline > 1.0 ? baseline : 1.0;
    double stranger_bar = 0.8;
    if (p_stranger + 0.45 > stranger_bar) { /* max(0.8, …): the first of the largest */
        stranger_bar = p_stranger + 0.45;
    }
    if ((hour_count > 12.0 && hour_count > 4 * own / 9)
        || (day_count >= 20 && day_count > 3 * own)
        || (day_count >= 20 && day_count > 4 * daily) || negative > 0.5 || far > p_far + 0.35
        || (questions >= 15 && unseen > 0.95) || stranger > stranger_bar || sequence > 0.3
        || off > p_off + 0.5 || cardless > 0.4 || orphans > 0.8) {
        Py_RETURN_FALSE;
    }
    if (PyDict_GET_SIZE(origins) >= 2 && new_origin(origins, now) != 0) {
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* --- engine.Guard: the usual question ---------------------------------------------------------
 * What Guard.admit and Guard.observe do for the usual question, in one call each, on the same
 * objects: an account already known, asking from a known origin, on quotas in memory, whose
 * answer fires no signal. Anything else goes back to the Python: admit_usual then has done
 * nothing; observe_usual has done nothing, or has learnt the question and hands the judgement
 * to Guard._judge, the lock still held. The locks are Python's own, taken without waiting: one
 * already held sends the question to the Python, which waits for it. */

static PyTypeObject *guard_type, *memory_store_type, *checks_type;
static PyObject *allow_verdict, *quiet_platform, *observed_kind, *slack_value;
static double sweep_every;
static int engine_bound;
static PyObject *s_lock, *s_accounts, *s_outbox, *s_platform, *s_quotas, *s_origins_map,
    *s_burst_until, *s_facts, *s_judge, *s_acquire, *s_release, *s_swept, *s_generation, *s_tat,
    *s_noted, *s_append;

static PyObject *take(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
static PyObject *learn(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
static PyObject *quiet(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* bind_engine(Guard, MemoryQuotaStore, Checks, ALLOW, QUIET, OBSERVED, sweep_every, slack) */
static PyObject *
bind_engine(PyObject *module, PyObject *args)
{
    PyObject *guard, *store, *checks, *allow, *quiet_one, *observed;
    double sweep, slack;
    if (!PyArg_ParseTuple(args, "O!O!O!OOOdd:bind_engine", &PyType_Type, &guard, &PyType_Type,
                          &store, &PyType_Type, &checks, &allow, &quiet_one, &observed, &sweep,
                          &slack)) {
        return NULL;
    }
    /* The usual answer of facts() is QUIET for an origin of one or two groups: only while an
     * origin counts as shared from three at least. */
    if (!bound || !signals_bound || shared_origin <= 2) {
        PyErr_SetString(PyExc_RuntimeError, "bind() and bind_signals() first (shared origin > 2)");
        return NULL;
    }
    PyObject *slack_object = PyFloat_FromDouble(slack);
    if (slack_object == NULL) {
        return NULL;
    }
    Py_XSETREF(slack_value, slack_object);
    PyObject **held[] = {&guard, &store, &checks, &allow, &quiet_one, &observed};
    for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
        Py_INCREF(*held[i]);
    }
    Py_XSETREF(guard_type, (PyTypeObject *)guard);
    Py_XSETREF(memory_store_type, (PyTypeObject *)store);
    Py_XSETREF(checks_type, (PyTypeObject *)checks);
    Py_XSETREF(allow_verdict, allow);
    Py_XSETREF(quiet_platform, quiet_one);
    Py_XSETREF(observed_kind, observed);
    sweep_every = sweep;
    engine_bound = 1;
    Py_RETURN_NONE;
}

/* lock.acquire(False): 1 taken, 0 held elsewhere, -1 an error. */
static int
try_lock(PyObject *lock)
{
    PyObject *taken = PyObject_CallMethodOneArg(lock, s_acquire, Py_False);
    if (taken == NULL) {
        return -1;
    }
    int result = PyObject_IsTrue(taken);
    Py_DECREF(taken);
    return result;
}

/* lock.release(), an error already raised kept as it is (the release's own raised otherwise).
 * Returns ``result``, or NULL when the release failed. */
static PyObject *
unlock(PyObject *lock, PyObject *result)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject *done = PyObject_CallMethodNoArgs(lock, s_release);
    if (done == NULL) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        Py_XDECREF(result);
        return NULL;
    }
    Py_DECREF(done);
    PyErr_Restore(type, value, traceback);
    return result;
}

/* The attribute as a double; -1 on an error (raised). */
static int
attr_double(PyObject *obj, PyObject *name, double *out)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        return -1;
    }
    *out = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* The quota checks Guard.admit finds for the usual question (its account known, asking from a
 * known origin, the checks of its kind made), the guard's lock held: a new reference, Py_None
 * for any other question, NULL on an error. */
static PyObject *
usual_checks(PyObject *guard, PyObject *caller, PyObject *q, PyObject *origin)
{
    PyObject *cardless = PyTuple_GET_ITEM(q, 4);
    PyObject *account = get(caller, C_ACCOUNT);
    if (account == NULL) {
        return NULL;
    }
    if (cardless != Py_True && cardless != Py_False) {
        Py_RETURN_NONE;
    }
    PyObject *accounts = PyObject_GetAttr(guard, s_accounts);
    if (accounts == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *st = PyDict_CheckExact(accounts) ? PyDict_GetItemWithError(accounts, account) : NULL;
    if (st == NULL || !PyObject_TypeCheck(st, owners[0])) {
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    /* No Python code runs while the slots are read: they stay as they are. */
    PyObject *origins = get(st, F_ORIGINS), *slowed_at = get(st, F_SLOWED_AT);
    PyObject *kinds = get(st, F_CHECKS);
    if (origins == NULL || slowed_at == NULL || kinds == NULL) {
        goto done;
    }
    int known = PyDict_CheckExact(origins) ? PyDict_Contains(origins, origin) : 0;
    if (known < 0) {
        goto done;
    }
    Py_ssize_t kind = 2 * (cardless == Py_True) + (slowed_at != Py_None);
    PyObject *checks = known && PyList_CheckExact(kinds) && PyList_GET_SIZE(kinds) == 4
                           ? PyList_GET_ITEM(kinds, kind)
                           : NULL;
    result = Py_NewRef(checks != NULL && Py_IS_TYPE(checks, checks_type) ? checks : Py_None);
done:
    Py_DECREF(accounts);
    return result;
}

/* MemoryQuotaStore.take's one-pass case, its lock held: Py_True (charged), Py_False (nothing
 * done: a sweep due, windows not noted for this store's generation, or a refusal, which
 * charged nothing and which the Python takes again to say how long to wait), NULL on an error. */
static PyObject *
memory_take(PyObject *store, PyObject *checks, PyObject *now)
{
    PyObject *noted = NULL, *generation = NULL, *tats = NULL, *taken = NULL, *result = NULL;
    double at = PyFloat_AsDouble(now), swept;
    if ((at == -1.0 && PyErr_Occurred()) || attr_double(store, s_swept, &swept) < 0) {
        return NULL;
    }
    if (!(at - swept <= sweep_every)) { /* a sweep is due (Python's test, negated) */
        Py_RETURN_FALSE;
    }
    if ((noted = PyObject_GetAttr(checks, s_noted)) == NULL
        || (generation = PyObject_GetAttr(store, s_generation)) == NULL) {
        goto done;
    }
    int current = PyTuple_CheckExact(noted) && PyTuple_GET_SIZE(noted) == 4
                  && PyTuple_GET_ITEM(noted, 0) == store && PyTuple_GET_ITEM(noted, 3) == Py_True
                  && PyLong_CheckExact(PyTuple_GET_ITEM(noted, 1)) && PyLong_CheckExact(generation)
                  ? PyObject_RichCompareBool(PyTuple_GET_ITEM(noted, 1), generation, Py_EQ)
                  : 0;
    if (current <= 0) {
        result = current < 0 ? NULL : Py_NewRef(Py_False);
        goto done;
    }
    if ((tats = PyObject_GetAttr(store, s_tat)) == NULL) {
        goto done;
    }
    PyObject *take_args[4] = {tats, PyTuple_GET_ITEM(noted, 2), now, slack_value};
    if ((taken = take(NULL, take_args, 4)) == NULL) {
        goto done;
    }
    result = Py_NewRef(PyFloat_AS_DOUBLE(taken) <= 0 ? Py_True : Py_False);
done:
    Py_XDECREF(noted);
    Py_XDECREF(generation);
    Py_XDECREF(tats);
    Py_XDECREF(taken);
    return result;
}

/* --- redis_quotas.RedisQuotaStore._spend_in_hand ----------------------------------------------- */

static PyTypeObject *lease_store_type;
static double lease_seconds;
static PyObject *s_changed, *s_latest, *s_queue, *s_idle, *s_notify_all;

/* bind_leases(RedisQuotaStore, Lease, lease_seconds) */
static PyObject *
bind_leases(PyObject *module, PyObject *args)
{
    PyObject *types[1], *store;
    double seconds;
    if (!PyArg_ParseTuple(args, "O!O!d:bind_leases", &PyType_Type, &store, &PyType_Type,
                          &types[0], &seconds)) {
        return NULL;
    }
    if (bind_owners(types, 5, 1) < 0) {
        return NULL;
    }
    Py_INCREF(store);
    Py_XSETREF(lease_store_type, (PyTypeObject *)store);
    lease_seconds = seconds;
    Py_RETURN_NONE;
}

/* A slot holding an exact int within 2**50 (its doubling exact too); 0 for anything else. */
static int
slot_count(PyObject *obj, int field, long long *out)
{
    PyObject *value = *(PyObject **)((char *)obj + offsets[field]);
    if (value == NULL || !PyLong_CheckExact(value)) {
        return 0;
    }
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && *out <= EXACT_INT && *out >= -EXACT_INT;
}

static int
put_count(PyObject *obj, int field, long long value)
{
    return put(obj, field, PyLong_FromLongLong(value));
}

#define MAX_GROUPS 8

/* _spend_in_hand for the leases noted on ``checks``, the store's condition held: 1 spent, 0
 * nothing done (not the usual case, or fields it does not read plainly), -1 an error. */
static int
spend_held(PyObject *store, PyObject *checks, PyObject *now)
{
    PyObject *noted = NULL, *generation = NULL, *queue = NULL, *idle = NULL;
    int result = -1;
    double at = PyFloat_AsDouble(now), latest;
    if ((at == -1.0 && PyErr_Occurred()) || attr_double(store, s_latest, &latest) < 0
        || (noted = PyObject_GetAttr(checks, s_noted)) == NULL
        || (generation = PyObject_GetAttr(store, s_generation)) == NULL) {
        goto done;
    }
    int current = PyTuple_CheckExact(noted) && PyTuple_GET_SIZE(noted) == 3
                  && PyTuple_GET_ITEM(noted, 0) == store
                  && PyList_CheckExact(PyTuple_GET_ITEM(noted, 2))
                  && PyLong_CheckExact(PyTuple_GET_ITEM(noted, 1)) && PyLong_CheckExact(generation)
                  ? PyObject_RichCompareBool(PyTuple_GET_ITEM(noted, 1), generation, Py_EQ)
                  : 0;
    if (current <= 0) {
        result = current;
        goto done;
    }
    PyObject *leases = PyTuple_GET_ITEM(noted, 2);
    Py_ssize_t n = PyList_GET_SIZE(leases);
    long long units[MAX_GROUPS], cap[MAX_GROUPS], size[MAX_GROUPS];
    double expires[MAX_GROUPS], last[MAX_GROUPS];
    if (n > MAX_GROUPS) {
        result = 0;
        goto done;
    }
    /* Every group a unit in hand, its lease alive, every field plain: else the Python's. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lease = PyList_GET_ITEM(leases, i);
        PyObject *refilling = PyObject_TypeCheck(lease, owners[5])
                                  ? *(PyObject **)((char *)lease + offsets[E_REFILLING])
                                  : NULL;
        if (refilling == NULL || (refilling != Py_True && refilling != Py_False)
            || !slot_count(lease, E_UNITS, &units[i]) || !slot_count(lease, E_CAP, &cap[i])
            || !slot_count(lease, E_SIZE, &size[i]) || !slot_double(lease, E_EXPIRES, &expires[i])
            || !slot_double(lease, E_LAST, &last[i]) || units[i] == 0 || at >= expires[i]) {
            result = 0;
            goto done;
        }
    }
    if ((queue = PyObject_GetAttr(store, s_queue)) == NULL) {
        goto done;
    }
    if (!PyList_CheckExact(queue)) { /* before anything changes: nothing left half done */
        result = 0;
        goto done;
    }
    if (at > latest && PyObject_SetAttr(store, s_latest, now) < 0) { /* _leases_of's */
        goto done;
    }
    Py_INCREF(leases); /* held: the list is the note's, and appends below run no Python */
    int queued = 0, failed = 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) { /* pace, then spend one */
        PyObject *lease = PyList_GET_ITEM(leases, i);
        long long next = at - last[i] < lease_seconds ? (2 * size[i] > 1 ? 2 * size[i] : 1) : 0;
        if (at - last[i] < lease_seconds && cap[i] < next) {
            next = cap[i];
        }
        size[i] = next;
        failed = put_count(lease, E_SIZE, next) < 0 || put(lease, E_LAST, Py_NewRef(now)) < 0
                 || put_count(lease, E_UNITS, --units[i]) < 0;
    }
    for (Py_ssize_t i = 0; i < n && !failed; i++) { /* _refill_spent */
        PyObject *lease = PyList_GET_ITEM(leases, i);
        PyObject *refilling = *(PyObject **)((char *)lease + offsets[E_REFILLING]);
        if (2 * units[i] < size[i] && refilling == Py_False) {
            failed = put(lease, E_REFILLING, Py_NewRef(Py_True)) < 0
                     || PyList_Append(queue, lease) < 0;
            queued = 1;
        }
    }
    Py_DECREF(leases);
    if (failed) {
        goto done;
    }
    /* Woken only when it waits for work (the Python's notify, the condition held here). */
    if (queued) {
        if ((idle = PyObject_GetAttr(store, s_idle)) == NULL) {
            goto done;
        }
        int waiting = PyObject_IsTrue(idle);
        if (waiting < 0) {
            goto done;
        }
        if (waiting) {
            PyObject *condition = PyObject_GetAttr(store, s_changed);
            PyObject *done_ = condition ? PyObject_CallMethodNoArgs(condition, s_notify_all) : NULL;
            Py_XDECREF(condition);
            if (done_ == NULL) {
                goto done;
            }
            Py_DECREF(done_);
        }
    }
    result = 1;
done:
    Py_XDECREF(noted);
    Py_XDECREF(generation);
    Py_XDECREF(queue);
    Py_XDECREF(idle);
    return result;
}

/* spend_in_hand(store, checks, now) -> bool: _spend_in_hand for the leases noted on ``checks``
 * (their note current), its condition taken without waiting. */
static PyObject *
spend_in_hand(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || lease_store_type == NULL || !bound) {
        PyErr_SetString(PyExc_TypeError, "spend_in_hand(store, checks, now), after bind_leases()");
        return NULL;
    }
    if (!Py_IS_TYPE(args[0], lease_store_type) || checks_type == NULL
        || !Py_IS_TYPE(args[1], checks_type)) {
        PyErr_SetString(PyExc_TypeError, "spend_in_hand(RedisQuotaStore, Checks, float)");
        return NULL;
    }
    PyObject *condition = PyObject_GetAttr(args[0], s_changed);
    if (condition == NULL) {
        return NULL;
    }
    PyObject *result;
    int taken = try_lock(condition);
    if (taken <= 0) {
        result = taken < 0 ? NULL : Py_NewRef(Py_False);
    }
    else {
        int spent = spend_held(args[0], args[1], args[2]);
        result = unlock(condition, spent < 0 ? NULL : Py_NewRef(spent ? Py_True : Py_False));
    }
    Py_DECREF(condition);
    return result;
}

/* --- redis_quotas.RedisQuotaStore: the refill thread's script call, built and credited ---------
 * A refill leases ahead for every group queued since the last one: some hundreds a call. */

#define HEAD_BYTES 40 /* a group's five doubles: windows, now, need, extra, back */

/* The lease at ``i`` of an exact list, when a Lease whose fields read plainly; else NULL. */
static PyObject *
plain_lease(PyObject *leases, Py_ssize_t i, long long *units, long long *cap, long long *size,
            double *last, PyObject **spec)
{
    PyObject *lease = PyList_GET_ITEM(leases, i);
    if (!PyObject_TypeCheck(lease, owners[5]) || !slot_count(lease, E_UNITS, units)
        || !slot_count(lease, E_CAP, cap) || !slot_count(lease, E_SIZE, size)
        || !slot_double(lease, E_LAST, last)) {
        return NULL;
    }
    PyObject *key = *(PyObject **)((char *)lease + offsets[E_KEY]);
    *spec = *(PyObject **)((char *)lease + offsets[E_SPEC]);
    Py_ssize_t n = *spec != NULL && PyBytes_CheckExact(*spec) ? PyBytes_GET_SIZE(*spec) : 0;
    if (key == NULL || !PyBytes_CheckExact(key) || n < 16 || n > 16 * 8 || n % 16) {
        return NULL;
    }
    return lease;
}

/* refill_request(leases) -> (keys, blob) | None: redis_quotas.refill_request for a list of
 * Leases (the store's condition held by the caller); None when a field does not read plainly
 * (the Python's then). */
static PyObject *
refill_request(PyObject *module, PyObject *leases)
{
    if (owners[5] == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind_leases() first");
        return NULL;
    }
    if (!PyList_CheckExact(leases)) {
        PyErr_SetString(PyExc_TypeError, "refill_request(list of Lease)");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(leases), total = 0;
    long long units, cap, size;
    double last;
    PyObject *spec;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (plain_lease(leases, i, &units, &cap, &size, &last, &spec) == NULL) {
            Py_RETURN_NONE;
        }
        total += HEAD_BYTES + PyBytes_GET_SIZE(spec);
    }
    PyObject *keys = PyList_New(count);
    PyObject *blob = keys ? PyBytes_FromStringAndSize(NULL, total) : NULL;
    if (blob == NULL) {
        Py_XDECREF(keys);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(blob);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *lease = PyList_GET_SIZE(leases) == count
                              ? plain_lease(leases, i, &units, &cap, &size, &last, &spec)
                              : NULL;
        Py_ssize_t n = lease != NULL ? PyBytes_GET_SIZE(spec) : -1;
        if (n < 0 || out + HEAD_BYTES + n > PyBytes_AS_STRING(blob) + total) {
            /* changed by a finalizer the allocations above ran (a collection): the Python's */
            Py_DECREF(keys);
            Py_DECREF(blob);
            Py_RETURN_NONE;
        }
        long long room = cap - units, extra = size < room ? size : room;
        double head[5] = {(double)(n / 16), last, 0.0, (double)(extra > 0 ? extra : 0), 0.0};
        for (int j = 0; j < 5; j++) {
            PyFloat_Pack8(head[j], out + 8 * j, 1);
        }
        memcpy(out + HEAD_BYTES, PyBytes_AS_STRING(spec), (size_t)n);
        out += HEAD_BYTES + n;
        PyList_SET_ITEM(keys, i, Py_NewRef(*(PyObject **)((char *)lease + offsets[E_KEY])));
    }
    if (out != PyBytes_AS_STRING(blob) + total) {
        Py_DECREF(keys);
        Py_DECREF(blob);
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(NN)", keys, blob);
}

/* A lease's spec (exact bytes of whole windows) for a credit; NULL when it is not one. */
static PyObject *
credit_spec(PyObject *lease)
{
    if (!PyObject_TypeCheck(lease, owners[5])) {
        return NULL;
    }
    PyObject *spec = *(PyObject **)((char *)lease + offsets[E_SPEC]);
    PyObject *expires = *(PyObject **)((char *)lease + offsets[E_EXPIRES]);
    long long units;
    Py_ssize_t n = spec != NULL && PyBytes_CheckExact(spec) ? PyBytes_GET_SIZE(spec) : 0;
    /* The values replaced must be an exact int and float: dropping them runs no Python code. */
    if (n < 16 || n > 16 * 8 || n % 16 || expires == NULL || !PyFloat_CheckExact(expires)
        || !slot_count(lease, E_UNITS, &units)) {
        return NULL;
    }
    return spec;
}

/* credit_refills(leases, blob, leased): redis_quotas.credit_refills (the store's condition held
 * by the caller): each lease's units leased added, its expiry its ask's moment (read back from
 * the blob) plus a lease's life. Everything is checked before anything changes: TypeError for a
 * lease it does not read plainly (the Python twin credits it then), ValueError for a blob or
 * counts that are not these leases'. Reads only the units, expiry and spec of each lease: the
 * others may have changed since the request (a question paced the group meanwhile). */
static PyObject *
credit_refills(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (owners[5] == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind_leases() first");
        return NULL;
    }
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyBytes_CheckExact(args[1])
        || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "credit_refills(list of Lease, bytes, list of int)");
        return NULL;
    }
    PyObject *leases = args[0], *leased = args[2];
    Py_ssize_t count = PyList_GET_SIZE(leases), offset = 0, size = PyBytes_GET_SIZE(args[1]);
    const char *blob = PyBytes_AS_STRING(args[1]);
    if (PyList_GET_SIZE(leased) != count) {
        PyErr_SetString(PyExc_ValueError, "one count leased a group");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *spec = credit_spec(PyList_GET_ITEM(leases, i));
        if (spec == NULL) {
            PyErr_SetString(PyExc_TypeError, "credit_refills: a lease not read plainly");
            return NULL;
        }
        PyObject *item = PyList_GET_ITEM(leased, i);
        int overflow = 1;
        long long got = PyLong_CheckExact(item) ? PyLong_AsLongLongAndOverflow(item, &overflow)
                                                : -1;
        if (overflow || got < 0 || got > EXACT_INT) {
            PyErr_SetString(PyExc_ValueError, "credit_refills: a count that is not one");
            return NULL;
        }
        offset += HEAD_BYTES + PyBytes_GET_SIZE(spec);
    }
    if (offset != size) {
        PyErr_SetString(PyExc_ValueError, "credit_refills: the blob is not these leases'");
        return NULL;
    }
    offset = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *lease = PyList_GET_ITEM(leases, i);
        PyObject *spec = *(PyObject **)((char *)lease + offsets[E_SPEC]);
        long long units, got = PyLong_AsLongLong(PyList_GET_ITEM(leased, i));
        if (got) {
            double asked = PyFloat_Unpack8(blob + offset + 8, 1);
            if (!slot_count(lease, E_UNITS, &units)) { /* checked above: nothing ran since */
                PyErr_SetString(PyExc_SystemError, "credit_refills: a lease changed meanwhile");
                return NULL;
            }
            if (put_count(lease, E_UNITS, units + got) < 0
                || put(lease, E_EXPIRES, PyFloat_FromDouble(asked + lease_seconds)) < 0) {
                return NULL; /* out of memory */
            }
        }
        offset += HEAD_BYTES + PyBytes_GET_SIZE(spec);
    }
    Py_RETURN_NONE;
}

/* The usual question's arguments: -1 an error raised (not a Guard, their number), 0 a question
 * these paths do not read plainly (a caller that is not a Caller, a question that is not six
 * fields, an account, structure or origin that is not an exact int: the Python's), 1 usual. */
static int
guard_call(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, const char *usage)
{
    if (!engine_bound) {
        PyErr_SetString(PyExc_RuntimeError, "bind_engine() first");
        return -1;
    }
    if (nargs != expected || !PyObject_TypeCheck(args[0], guard_type)) {
        PyErr_Format(PyExc_TypeError, "%s: a Guard first", usage);
        return -1;
    }
    PyObject *caller = args[1], *q = args[2], *origin = args[3];
    if (!PyObject_TypeCheck(caller, owners[1]) || !PyTuple_Check(q) || PyTuple_GET_SIZE(q) != 6
        || !PyLong_CheckExact(origin)) {
        return 0;
    }
    /* Exact ints: their comparisons and hashes run no Python code, so nothing read can change
     * while it is in use. */
    PyObject *account = *(PyObject **)((char *)caller + offsets[C_ACCOUNT]);
    PyObject *structure = *(PyObject **)((char *)caller + offsets[C_STRUCTURE]);
    return account != NULL && PyLong_CheckExact(account) && structure != NULL
           && (structure == Py_None || PyLong_CheckExact(structure));
}

/* admit_usual(guard, caller, q, origin, now) -> bool: True when Guard.admit would allow the
 * question from its state lookup on, and its units are charged; False: nothing done. */
static PyObject *
admit_usual(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int usual = guard_call(args, nargs, 5, "admit_usual(guard, caller, q, origin, now)");
    if (usual <= 0) {
        return usual < 0 ? NULL : Py_NewRef(Py_False);
    }
    PyObject *guard = args[0], *caller = args[1], *q = args[2];
    PyObject *store = PyObject_GetAttr(guard, s_quotas);
    if (store == NULL) {
        return NULL;
    }
    int in_memory = Py_IS_TYPE(store, memory_store_type);
    if (!in_memory && (lease_store_type == NULL || !Py_IS_TYPE(store, lease_store_type))) {
        Py_DECREF(store);
        Py_RETURN_FALSE;
    }
    PyObject *result = NULL, *guard_lock = NULL, *store_lock = NULL, *checks = NULL;
    if ((guard_lock = PyObject_GetAttr(guard, s_lock)) == NULL
        || (store_lock = PyObject_GetAttr(store, in_memory ? s_lock : s_changed)) == NULL) {
        goto done;
    }
    int taken = try_lock(guard_lock);
    if (taken <= 0) {
        result = taken < 0 ? NULL : Py_NewRef(Py_False);
        goto done;
    }
    taken = try_lock(store_lock);
    if (taken <= 0) {
        result = unlock(guard_lock, taken < 0 ? NULL : Py_NewRef(Py_False));
        goto done;
    }
    checks = usual_checks(guard, caller, q, args[3]);
    if (checks == NULL || checks == Py_None) {
        result = checks == NULL ? NULL : Py_NewRef(Py_False);
    }
    else if (in_memory) {
        result = memory_take(store, checks, args[4]);
    }
    else {
        int spent = spend_held(store, checks, args[4]);
        result = spent < 0 ? NULL : Py_NewRef(spent ? Py_True : Py_False);
    }
    result = unlock(store_lock, result);
    result = unlock(guard_lock, result);
done:
    Py_DECREF(store);
    Py_XDECREF(guard_lock);
    Py_XDECREF(store_lock);
    Py_XDECREF(checks);
    return result;
}

/* Guard._platform: PlatformWatch.facts' usual answer here (an origin one or two groups use, no
 * wave watched), the Python's otherwise. A new reference, NULL on an error. */
static PyObject *
platform_facts(PyObject *guard, PyObject *caller, PyObject *origin, PyObject *now,
               PyObject *stranger)
{
    PyObject *watch = NULL, *map = NULL, *group = NULL, *result = NULL, *structure = NULL;
    PyObject *account = got(caller, C_ACCOUNT);
    double at, burst_until;
    if (account == NULL || (structure = got(caller, C_STRUCTURE)) == NULL) {
        goto done;
    }
    if ((at = PyFloat_AsDouble(now)) == -1.0 && PyErr_Occurred()) {
        goto done;
    }
    group = structure != Py_None ? Py_NewRef(structure) : PyNumber_Negative(account);
    if (group == NULL || (watch = PyObject_GetAttr(guard, s_platform)) == NULL
        || (map = PyObject_GetAttr(watch, s_origins_map)) == NULL
        || attr_double(watch, s_burst_until, &burst_until) < 0) {
        goto done;
    }
    PyObject *groups = at < burst_until || !PyDict_CheckExact(map)
                           ? NULL
                           : PyDict_GetItemWithError(map, origin);
    if (groups == NULL && PyErr_Occurred()) {
        goto done;
    }
    Py_XINCREF(groups);
    int present = groups != NULL && PyDict_CheckExact(groups) ? PyDict_Contains(groups, group) : 0;
    if (present < 0) {
        Py_DECREF(groups);
        goto done;
    }
    if (groups != NULL && PyDict_CheckExact(groups)
        && PyDict_GET_SIZE(groups) + !present <= 2) {
        result = PyDict_SetItem(groups, group, now) < 0 ? NULL : Py_NewRef(quiet_platform);
        Py_DECREF(groups);
    }
    else {
        Py_XDECREF(groups);
        result = PyObject_CallMethodObjArgs(watch, s_facts, origin, group, account, now, stranger,
                                            NULL);
    }
done:
    Py_XDECREF(account);
    Py_XDECREF(structure);
    Py_XDECREF(group);
    Py_XDECREF(watch);
    Py_XDECREF(map);
    return result;
}

/* Guard.observe, the lock held: a verdict, Py_None (nothing done), NULL on an error. */
static PyObject *
observe_held(PyObject *guard, PyObject *caller, PyObject *q, PyObject *origin,
             PyObject *positive, PyObject *now)
{
    PyObject *accounts = NULL, *st = NULL, *peers = NULL, *view = NULL, *outbox = NULL;
    PyObject *stranger = NULL, *platform = NULL, *calm = NULL, *result = NULL;
    PyObject *account = get(caller, C_ACCOUNT);
    if (account == NULL || (accounts = PyObject_GetAttr(guard, s_accounts)) == NULL) {
        goto done;
    }
    st = PyDict_CheckExact(accounts) ? PyDict_GetItemWithError(accounts, account) : NULL;
    if (st == NULL || !PyObject_TypeCheck(st, owners[0])) {
        st = NULL;
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    Py_INCREF(st);
    PyObject *views = get(st, F_VIEWS);
    if ((peers = got(st, F_PEERS)) == NULL || views == NULL) {
        goto done;
    }
    view = PyDict_CheckExact(views) ? PyDict_GetItemWithError(views, origin) : NULL;
    if (view == NULL || !PyObject_TypeCheck(view, owners[2])
        || !PyObject_TypeCheck(peers, owners[3])) {
        view = NULL; /* a new view: the Python makes room for it */
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    Py_INCREF(view);
    /* From here on the question is learnt: what follows is done here or by the Python's
     * _judge, never handed back undone. */
    PyObject *learn_args[6] = {st, q, positive, now, peers, view};
    if ((stranger = learn(NULL, learn_args, 6)) == NULL
        || (outbox = PyObject_GetAttr(guard, s_outbox)) == NULL) {
        goto done;
    }
    if (outbox != Py_None) {
        PyObject *event = PyTuple_Pack(6, observed_kind, caller, q, origin, positive, now);
        if (event == NULL) {
            goto done;
        }
        PyObject *appended = PyObject_CallMethodOneArg(outbox, s_append, event);
        Py_DECREF(event);
        if (appended == NULL) {
            goto done;
        }
        Py_DECREF(appended);
    }
    if ((platform = platform_facts(guard, caller, origin, now, stranger)) == NULL) {
        goto done;
    }
    PyObject *quiet_args[5] = {st, view, peers, platform, now};
    if (!PyObject_TypeCheck(platform, owners[4])) {
        calm = Py_NewRef(Py_False); /* another answer than a Platform: the Python judges */
    }
    else if ((calm = quiet(NULL, quiet_args, 5)) == NULL) {
        goto done;
    }
    PyObject *slowed_at = get(st, F_SLOWED_AT);
    if (slowed_at == NULL) {
        goto done;
    }
    if (calm == Py_True && slowed_at == Py_None) {
        result = Py_NewRef(allow_verdict);
    }
    else { /* a signal, or a slow-down that may end: the Python's judgement */
        result = PyObject_CallMethodObjArgs(guard, s_judge, st, view, platform, now, NULL);
    }
done:
    Py_XDECREF(accounts);
    Py_XDECREF(st);
    Py_XDECREF(peers);
    Py_XDECREF(view);
    Py_XDECREF(outbox);
    Py_XDECREF(stranger);
    Py_XDECREF(platform);
    Py_XDECREF(calm);
    return result;
}

/* observe_usual(guard, caller, q, origin, positive, now) -> Verdict | None: Guard.observe's
 * verdict, or None when nothing was done (the Python observes). */
static PyObject *
observe_usual(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int usual = guard_call(args, nargs, 6, "observe_usual(guard, caller, q, origin, positive, now)");
    if (usual <= 0) {
        return usual < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *guard = args[0], *caller = args[1], *q = args[2];
    PyObject *lock = PyObject_GetAttr(guard, s_lock);
    if (lock == NULL) {
        return NULL;
    }
    PyObject *result;
    int taken = try_lock(lock);
    if (taken <= 0) {
        result = taken < 0 ? NULL : Py_NewRef(Py_None);
    }
    else {
        result = unlock(lock, observe_held(guard, caller, q, args[3], args[4], args[5]));
    }
    Py_DECREF(lock);
    return result;
}

/* --- features.first_header ---------------------------------------------------------------------
 * A request's header, from the ASGI scope's list of (name, value) pairs: a loop of tuple
 * unpackings the interpreter runs for every question. */

/* first_header(headers, name) -> bytes | None: the value of the first header named ``name``. */
static PyObject *
first_header(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "first_header(headers, name)");
        return NULL;
    }
    PyObject *name = args[1];
    if (!PyBytes_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "a header's name is bytes");
        return NULL;
    }
    PyObject *headers = PySequence_Fast(args[0], "headers are a sequence of (name, value) pairs");
    if (headers == NULL) {
        return NULL;
    }
    const char *wanted = PyBytes_AS_STRING(name);
    Py_ssize_t size = PyBytes_GET_SIZE(name);
    PyObject *found = Py_None;
    /* No Python code runs in the loop (bytes are compared here): the list cannot change. */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(headers); i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(headers, i);
        /* A tuple or a list of two (ASGI servers give either); no Python code runs meanwhile */
        PyObject *key, *value;
        if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
            key = PyTuple_GET_ITEM(pair, 0);
            value = PyTuple_GET_ITEM(pair, 1);
        }
        else if (PyList_Check(pair) && PyList_GET_SIZE(pair) == 2) {
            key = PyList_GET_ITEM(pair, 0);
            value = PyList_GET_ITEM(pair, 1);
        }
        else {
            Py_DECREF(headers);
            PyErr_SetString(PyExc_TypeError, "a header is a (name, value) pair");
            return NULL;
        }
        /* A name of another type than bytes never equals bytes. */
        if (PyBytes_CheckExact(key) && PyBytes_GET_SIZE(key) == size
            && memcmp(PyBytes_AS_STRING(key), wanted, size) == 0) {
            found = value;
            break;
        }
    }
    Py_INCREF(found);
    Py_DECREF(headers);
    return found;
}

/* --- features.question ------------------------------------------------------------------------
 * The question's digests and NIR parts, as features.question computes them: Python's hash of
 * the same salted tuples while its key is random, else SipHash-2-4 under the digests' key, of
 * the same text. */

static PyTypeObject *question_type;
static PyObject *salt, *keyed; /* keyed: the SipHash key (16 bytes), None while hash() serves */
static PyObject *s_isdigit, *s_97, *s_98;

/* bind_question(Question, salt, keyed_or_None) */
static PyObject *
bind_question(PyObject *module, PyObject *args)
{
    PyObject *type, *new_salt, *new_keyed;
    if (!PyArg_ParseTuple(args, "O!SO:bind_question", &PyType_Type, &type, &new_salt,
                          &new_keyed)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "a question is a tuple");
        return NULL;
    }
    if (new_keyed != Py_None && (!PyBytes_CheckExact(new_keyed) || PyBytes_GET_SIZE(new_keyed) != 16)) {
        PyErr_SetString(PyExc_TypeError, "the digests' key is None or 16 bytes");
        return NULL;
    }
    Py_INCREF(type);
    Py_XSETREF(question_type, (PyTypeObject *)type);
    Py_INCREF(new_salt);
    Py_XSETREF(salt, new_salt);
    Py_INCREF(new_keyed);
    Py_XSETREF(keyed, new_keyed);
    Py_RETURN_NONE;
}

/* hash((salt, *parts)) as a Python int */
static PyObject *
salted_hash(PyObject *a, PyObject *b, PyObject *c, PyObject *d)
{
    PyObject *parts = d != NULL ? PyTuple_Pack(5, salt, a, b, c, d) : PyTuple_Pack(3, salt, a, b);
    if (parts == NULL) {
        return NULL;
    }
    Py_hash_t h = PyObject_Hash(parts);
    Py_DECREF(parts);
    if (h == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromSsize_t(h);
}

/* SipHash-2-4 (Aumasson and Bernstein) of ``data`` under a 16-byte key: features.siphash24. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                               \
    do {                                                                                       \
        v0 += v1;                                                                              \
        v1 = ROTL(v1, 13);                                                                     \
        v1 ^= v0;                                                                              \
        v0 = ROTL(v0, 32);                                                                     \
        v2 += v3;                                                                              \
        v3 = ROTL(v3, 16);                                                                     \
        v3 ^= v2;                                                                              \
        v0 += v3;                                                                              \
        v3 = ROTL(v3, 21);                                                                     \
        v3 ^= v0;                                                                              \
        v2 += v1;                                                                              \
        v1 = ROTL(v1, 17);                                                                     \
        v1 ^= v2;                                                                              \
        v2 = ROTL(v2, 32);                                                                     \
    } while (0)

static uint64_t
little_endian(const unsigned char *p, Py_ssize_t n)
{
    uint64_t value = 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        value = value << 8 | p[i];
    }
    return value;
}

static uint64_t
siphash(const unsigned char *key, const unsigned char *data, Py_ssize_t length)
{
    uint64_t k0 = little_endian(key, 8), k1 = little_endian(key + 8, 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    Py_ssize_t end = length - length % 8;
    for (Py_ssize_t i = 0; i < end; i += 8) {
        uint64_t m = little_endian(data + i, 8);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(length & 0xff) << 56 | little_endian(data + end, length - end);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* siphash24(key, data) -> int: the twin of features.siphash24 (the tests' handle on it). */
static PyObject *
siphash24(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || PyBytes_GET_SIZE(args[0]) != 16
        || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "siphash24(key: 16 bytes, data: bytes)");
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(
        siphash((const unsigned char *)PyBytes_AS_STRING(args[0]),
                (const unsigned char *)PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1])));
}

/* siphash24(keyed, text.encode()) as a Python int (``text`` stolen; NULL: an error raised). */
static PyObject *
keyed_digest(PyObject *text)
{
    if (text == NULL) {
        return NULL;
    }
    Py_ssize_t size;
    const char *raw = PyUnicode_AsUTF8AndSize(text, &size); /* cached in the str: no copy */
    PyObject *result = raw == NULL ? NULL
                                   : PyLong_FromUnsignedLongLong(siphash(
                                         (const unsigned char *)PyBytes_AS_STRING(keyed),
                                         (const unsigned char *)raw, size));
    Py_DECREF(text);
    return result;
}

/* The decimal text of an int that fits in 64 bits, as str() writes it, into ``out`` (24 bytes):
 * its length, or -1 (no error set) for any other object. */
static int
decimal(PyObject *x, char *out)
{
    if (!PyLong_CheckExact(x)) {
        return -1;
    }
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || (value == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    char digits[24];
    int n = 0;
    unsigned long long u = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int length = 0;
    if (value < 0) {
        out[length++] = '-';
    }
    while (n) {
        out[length++] = digits[--n];
    }
    return length;
}

/* A question's two keyed digests written straight from its parts, where they are plain (an
 * ASCII NIR of at most 64 characters, a date, ints of 64 bits): the same text as the general
 * path formats (str() of each, joined by 0x1f), without a str object per part. 1: done
 * (``*patient`` and ``*series`` set, or NULL with an error); 0: not plain, nothing done. */
static int
plain_digests(PyObject *account, PyObject *nir, PyObject *birth_date, PyObject *birth_rank,
              PyObject **patient, PyObject **series)
{
    if (!PyUnicode_IS_ASCII(nir) || PyUnicode_GET_LENGTH(nir) > 64
        || !PyDate_CheckExact(birth_date)) {
        return 0;
    }
    char a[24], r[24];
    int na = decimal(account, a), nr = decimal(birth_rank, r);
    if (na < 0 || nr < 0) {
        return 0;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(nir), prefix = length < 10 ? length : 10;
    const char *digits = (const char *)PyUnicode_1BYTE_DATA(nir);
    unsigned char text[24 + 1 + 64 + 1 + 10 + 1 + 24];
    size_t at = 0;
    memcpy(text, a, (size_t)na);
    at += (size_t)na;
    text[at++] = 0x1f;
    size_t series_length = at + (size_t)prefix; /* the text up to the NIR's first ten */
    memcpy(text + at, digits, (size_t)length);
    at += (size_t)length;
    int year = PyDateTime_GET_YEAR(birth_date), month = PyDateTime_GET_MONTH(birth_date);
    int day = PyDateTime_GET_DAY(birth_date);
    char date_text[11] = {
        (char)('0' + year / 1000 % 10), (char)('0' + year / 100 % 10), (char)('0' + year / 10 % 10),
        (char)('0' + year % 10), '-', (char)('0' + month / 10), (char)('0' + month % 10), '-',
        (char)('0' + day / 10), (char)('0' + day % 10), 0,
    };
    text[at++] = 0x1f;
    memcpy(text + at, date_text, 10);
    at += 10;
    text[at++] = 0x1f;
    memcpy(text + at, r, (size_t)nr);
    at += (size_t)nr;
    const unsigned char *key = (const unsigned char *)PyBytes_AS_STRING(keyed);
    *patient = PyLong_FromUnsignedLongLong(siphash(key, text, (Py_ssize_t)at));
    *series = *patient ? PyLong_FromUnsignedLongLong(siphash(key, text, (Py_ssize_t)series_length))
                       : NULL;
    return 1;
}

/* str(x), as an f-string's {x} formats it: format(x, "") */
static PyObject *
formatted(PyObject *x)
{
    return PyObject_Format(x, NULL);
}

/* question(nir, birth_date, birth_rank, *, account, cardless, agree) -> Question */
static PyObject *
question(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *account = NULL, *cardless = NULL, *agree = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (question_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind_question() first");
        return NULL;
    }
    if (nargs != 3 || nkw != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "question(nir, birth_date, birth_rank, *, account, cardless, agree)");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
        if (PyUnicode_CompareWithASCIIString(name, "account") == 0) {
            account = value;
        }
        else if (PyUnicode_CompareWithASCIIString(name, "cardless") == 0) {
            cardless = value;
        }
        else if (PyUnicode_CompareWithASCIIString(name, "agree") == 0) {
            agree = value;
        }
    }
    if (account == NULL || cardless == NULL || agree == NULL) {
        PyErr_SetString(PyExc_TypeError, "question() needs account, cardless and agree");
        return NULL;
    }
    PyObject *nir = args[0], *birth_date = args[1], *birth_rank = args[2];
    if (!PyUnicode_Check(nir)) {
        PyErr_SetString(PyExc_TypeError, "a NIR is a str");
        return NULL;
    }
    PyObject *patient = NULL, *series = NULL, *prefix = NULL;
    if (keyed != Py_None
        && plain_digests(account, nir, birth_date, birth_rank, &patient, &series)) {
        /* both set, or NULL with an error: handled below */
    }
    else if ((prefix = PyUnicode_Substring(nir, 0, 10)) == NULL) {
        return NULL;
    }
    else if (keyed == Py_None) {
        patient = salted_hash(account, nir, birth_date, birth_rank);
        series = patient ? salted_hash(account, prefix, NULL, NULL) : NULL;
    }
    else {
        /* One at a time, as the f-string formats them: none after a failure. */
        PyObject *a = formatted(account);
        PyObject *d = a ? formatted(birth_date) : NULL;
        PyObject *r = d ? formatted(birth_rank) : NULL;
        patient = r ? keyed_digest(PyUnicode_FromFormat("%U\x1f%U\x1f%U\x1f%U", a, nir, d, r))
                    : NULL;
        series = patient ? keyed_digest(PyUnicode_FromFormat("%U\x1f%U", a, prefix)) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(d);
        Py_XDECREF(r);
    }
    Py_XDECREF(prefix);
    PyObject *head = NULL, *departement = NULL, *order_text = NULL, *order = NULL;
    PyObject *result = NULL;
    if (series == NULL) {
        goto done;
    }
    if (PyUnicode_IS_ASCII(nir)) {
        /* The same parts read from the characters: no slice or method call per part. */
        Py_ssize_t length = PyUnicode_GET_LENGTH(nir), end = length < 13 ? length : 13;
        const char *c = (const char *)PyUnicode_1BYTE_DATA(nir);
        int overseas = length >= 7 && c[5] == '9' && (c[6] == '7' || c[6] == '8');
        departement = PyUnicode_Substring(nir, 5, overseas ? 8 : 7);
        long value = 0;
        int digits = end > 10;
        for (Py_ssize_t i = 10; i < end && digits; i++) {
            digits = c[i] >= '0' && c[i] <= '9';
            value = value * 10 + (c[i] - '0');
        }
        order = departement ? PyLong_FromLong(digits ? value : 0) : NULL;
        if (order == NULL) {
            goto done;
        }
    }
    else {
        head = PyUnicode_Substring(nir, 5, 7);
        if (head == NULL) {
            goto done;
        }
        int overseas = PyUnicode_Compare(head, s_97) == 0 || PyUnicode_Compare(head, s_98) == 0;
        if (PyErr_Occurred()) {
            goto done;
        }
        departement = overseas ? PyUnicode_Substring(nir, 5, 8) : Py_NewRef(head);
        if (departement == NULL) {
            goto done;
        }
        order_text = PyUnicode_Substring(nir, 10, 13);
        if (order_text == NULL) {
            goto done;
        }
        int is_digits = truth(PyObject_CallMethodNoArgs(order_text, s_isdigit));
        if (is_digits < 0) {
            goto done;
        }
        order = is_digits ? PyNumber_Long(order_text) : PyLong_FromLong(0);
        if (order == NULL) {
            goto done;
        }
    }
    /* The Question through tuple.__new__ itself, which sets up whatever a tuple caches (a
     * hash, from CPython 3.14): filling tp_alloc's object here would leave that to chance. */
    PyObject *fields = PyTuple_Pack(6, patient, departement, series, order, cardless, agree);
    PyObject *pair = fields ? PyTuple_Pack(1, fields) : NULL;
    Py_XDECREF(fields);
    if (pair == NULL) {
        goto done;
    }
    result = PyTuple_Type.tp_new(question_type, pair, NULL);
    Py_DECREF(pair);
done:
    Py_XDECREF(patient);
    Py_XDECREF(series);
    Py_XDECREF(head);
    Py_XDECREF(departement);
    Py_XDECREF(order_text);
    Py_XDECREF(order);
    return result;
}

static PyMethodDef methods[] = {
    {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
     "take(tats, windows, now, slack) -> float: GCRA in one pass (see gcra.take_in_one_pass)."},
    {"bind", bind, METH_VARARGS,
     "bind(AccountState, Caller, Shares, Peers, alpha, cardless_alpha, peer_step, "
     "seen_generation, late): the classes and constants learn() works with."},
    {"learn", (PyCFunction)(void (*)(void))learn, METH_FASTCALL,
     "learn(st, q, positive, now, peers, view) -> bool: risk.AccountState.learn."},
    {"bind_signals", bind_signals, METH_VARARGS,
     "bind_signals(Platform, throttle_memory, new_origin_memory, shared_origin): for quiet()."},
    {"quiet", (PyCFunction)(void (*)(void))quiet, METH_FASTCALL,
     "quiet(st, v, peers, platform, now) -> bool: True when signals.assess finds nothing."},
    {"bind_engine", bind_engine, METH_VARARGS,
     "bind_engine(Guard, MemoryQuotaStore, Checks, ALLOW, QUIET, OBSERVED, sweep_every, slack)."},
    {"admit_usual", (PyCFunction)(void (*)(void))admit_usual, METH_FASTCALL,
     "admit_usual(guard, caller, q, origin, now) -> bool: Guard.admit's usual question."},
    {"observe_usual", (PyCFunction)(void (*)(void))observe_usual, METH_FASTCALL,
     "observe_usual(guard, caller, q, origin, positive, now): Guard.observe's usual question."},
    {"bind_leases", bind_leases, METH_VARARGS,
     "bind_leases(RedisQuotaStore, Lease, lease_seconds): for spend_in_hand()."},
    {"spend_in_hand", (PyCFunction)(void (*)(void))spend_in_hand, METH_FASTCALL,
     "spend_in_hand(store, checks, now) -> bool: RedisQuotaStore._spend_in_hand."},
    {"refill_request", refill_request, METH_O,
     "refill_request(leases) -> (keys, blob) | None: redis_quotas.refill_request."},
    {"credit_refills", (PyCFunction)(void (*)(void))credit_refills, METH_FASTCALL,
     "credit_refills(leases, blob, leased): redis_quotas.credit_refills."},
    {"first_header", (PyCFunction)(void (*)(void))first_header, METH_FASTCALL,
     "first_header(headers, name) -> bytes | None: features.first_header."},
    {"siphash24", (PyCFunction)(void (*)(void))siphash24, METH_FASTCALL,
     "siphash24(key, data) -> int: SipHash-2-4 (features.siphash24)."},
    {"bind_question", bind_question, METH_VARARGS,
     "bind_question(Question, salt, keyed_or_None): what question() builds and hashes with."},
    {"question", (PyCFunction)(void (*)(void))question, METH_FASTCALL | METH_KEYWORDS,
     "question(nir, birth_date, birth_rank, *, account, cardless, agree): features.question."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "vigie.guard._speedups",
    "The guard's per-question arithmetic in C (pure-Python twins in gcra.py and risk.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    /* The names the functions call or compare with, made once: the module does not load
     * without them. */
    struct {
        PyObject **name;
        const char *text;
    } names[] = {
        {&enter_slot_name, "enter_slot"}, {&s_isdigit, "isdigit"}, {&s_97, "97"},
        {&s_98, "98"},                    {&s_lock, "_lock"},     {&s_accounts, "_accounts"},
        {&s_outbox, "outbox"},            {&s_platform, "platform"}, {&s_quotas, "quotas"},
        {&s_origins_map, "_origins"},     {&s_burst_until, "burst_until"}, {&s_facts, "facts"},
        {&s_judge, "_judge"},             {&s_acquire, "acquire"}, {&s_release, "release"},
        {&s_swept, "_swept"},             {&s_generation, "_generation"}, {&s_tat, "_tat"},
        {&s_noted, "noted"},              {&s_append, "append"},  {&s_changed, "_changed"},
        {&s_latest, "_latest"},           {&s_queue, "_queue"},   {&s_idle, "_idle"},
        {&s_notify_all, "notify_all"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].name == NULL
            && (*names[i].name = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return NULL;
        }
    }
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
