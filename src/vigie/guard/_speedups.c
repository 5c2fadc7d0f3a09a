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
    F_SEEN_BEFORE, F_OFF_NOW, F_ESTIMATES_DAY, F_PENDING_ESTIMATES,
    /* Caller */
    F_DEPARTEMENT,
    /* Shares */
    S_QUESTIONS, S_NEGATIVE, S_FAR, S_UNSEEN, S_STRANGER, S_SEQUENCE, S_OFF, S_CARDLESS,
    S_LAST_SERIES, S_LAST_ORDER,
    /* Peers */
    P_NEGATIVE, P_FAR, P_UNSEEN, P_STRANGER, P_OFF_HOURS, P_CARDLESS,
    FIELDS
};

static const struct {
    int owner; /* 0 AccountState, 1 Caller, 2 Shares, 3 Peers */
    const char *name;
} field_names[FIELDS] = {
    {0, "caller"}, {0, "hour_start"}, {0, "hour_end"}, {0, "hour_count"}, {0, "day_count"},
    {0, "questions"}, {0, "seen"}, {0, "seen_before"}, {0, "off_now"}, {0, "estimates_day"},
    {0, "pending_estimates"},
    {1, "departement"},
    {2, "questions"}, {2, "negative"}, {2, "far"}, {2, "unseen"}, {2, "stranger"},
    {2, "sequence"}, {2, "off"}, {2, "cardless"}, {2, "last_series"}, {2, "last_order"},
    {3, "negative"}, {3, "far"}, {3, "unseen"}, {3, "stranger"}, {3, "off_hours"},
    {3, "cardless"},
};

static Py_ssize_t offsets[FIELDS];
static PyTypeObject *owners[4]; /* bound classes (references held) */
static double alpha, cardless_alpha, peer_step, late;
static Py_ssize_t seen_generation;
static PyObject *enter_slot_name;
static int bound;

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
    Py_ssize_t found[FIELDS];
    for (int i = 0; i < FIELDS; i++) {
        PyObject *descr = PyObject_GetAttrString(types[field_names[i].owner], field_names[i].name);
        if (descr == NULL) {
            return NULL;
        }
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok) {
            found[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot", field_names[i].name);
            return NULL;
        }
    }
    if (enter_slot_name == NULL) {
        enter_slot_name = PyUnicode_InternFromString("enter_slot");
        if (enter_slot_name == NULL) {
            return NULL;
        }
    }
    for (int i = 0; i < 4; i++) {
        Py_INCREF(types[i]);
        Py_XSETREF(owners[i], (PyTypeObject *)types[i]);
    }
    memcpy(offsets, found, sizeof(offsets));
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
    *out = PyFloat_AsDouble(value); /* an int: Python converts it the same way */
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* obj.field += 1 */
static int
increment(PyObject *obj, int field)
{
    PyObject *value = get(obj, field);
    if (value == NULL) {
        return -1;
    }
    static PyObject *one;
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) {
        return -1;
    }
    return put(obj, field, PyNumber_Add(value, one));
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
    int cardless = PyObject_IsTrue(PyTuple_GET_ITEM(q, 4));
    int agree = PyObject_IsTrue(PyTuple_GET_ITEM(q, 5));
    int positive = PyObject_IsTrue(args[2]);
    if (cardless < 0 || agree < 0 || positive < 0) {
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
    PyObject *caller = get(st, F_CALLER);
    if (caller == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(caller, owners[1])) {
        PyErr_SetString(PyExc_TypeError, "an account's caller is a Caller");
        return NULL;
    }
    PyObject *home = get(caller, F_DEPARTEMENT);
    if (home == NULL) {
        return NULL;
    }
    int far = PyObject_RichCompareBool(departement, home, Py_NE);
    if (far < 0) {
        return NULL;
    }
    PyObject *seen = get(st, F_SEEN), *before = get(st, F_SEEN_BEFORE);
    if (seen == NULL || before == NULL) {
        return NULL;
    }
    int unseen = PySet_Contains(seen, patient);
    if (unseen < 0) {
        return NULL;
    }
    unseen = !unseen;
    if (unseen) {
        unseen = PySet_Contains(before, patient);
        if (unseen < 0) {
            return NULL;
        }
        unseen = !unseen;
    }
    if (unseen) {
        Py_ssize_t size = PySet_Size(seen);
        if (size < 0) {
            return NULL;
        }
        if (size >= seen_generation) {
            /* A new generation: the last one is remembered, the one before forgotten. */
            Py_INCREF(seen);
            if (put(st, F_SEEN_BEFORE, seen) < 0 || put(st, F_SEEN, PySet_New(NULL)) < 0) {
                return NULL;
            }
            seen = get(st, F_SEEN);
        }
        if (PySet_Add(seen, patient) < 0) {
            return NULL;
        }
    }
    PyObject *off_now = get(st, F_OFF_NOW);
    if (off_now == NULL) {
        return NULL;
    }
    int off = PyObject_IsTrue(off_now);
    if (off < 0) {
        return NULL;
    }
    PyObject *last_series = get(v, S_LAST_SERIES), *last_order = get(v, S_LAST_ORDER);
    if (last_series == NULL || last_order == NULL) {
        return NULL;
    }
    int sequential = PyObject_RichCompareBool(series, last_series, Py_EQ);
    if (sequential < 0) {
        return NULL;
    }
    if (sequential) {
        sequential = near_order(order, last_order);
        if (sequential < 0) {
            return NULL;
        }
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

static PyMethodDef methods[] = {
    {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
     "take(tats, windows, now, slack) -> float: GCRA in one pass (see gcra.take_in_one_pass)."},
    {"bind", bind, METH_VARARGS,
     "bind(AccountState, Caller, Shares, Peers, alpha, cardless_alpha, peer_step, "
     "seen_generation, late): the classes and constants learn() works with."},
    {"learn", (PyCFunction)(void (*)(void))learn, METH_FASTCALL,
     "learn(st, q, positive, now, peers, view) -> bool: risk.AccountState.learn."},
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
    return PyModule_Create(&module);
}
