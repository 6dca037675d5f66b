# deadlines.pxd: augments deadlines.py when Cython compiles it (pure-Python mode).

cdef class Ticker:
    cdef public object loop, clock, handle, on_idle
    cdef public double interval
    cdef public set connections


cdef class Timers:
    cdef public object loop, handle
