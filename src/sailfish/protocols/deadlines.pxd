# deadlines.pxd: augments deadlines.py when Cython compiles it (pure-Python mode). The strategy
# methods are cpdef, so the compiled connection calls them through a C vtable.

cdef class Deadlines:
    cpdef watch(self, conn, double interval)
    cpdef unwatch(self, conn)
    cpdef double arm(self, conn, double timeout) except? -1.0
    cpdef disarm(self, conn)
    cpdef double arm_write(self, conn, double timeout) except? -1.0
    cpdef disarm_write(self, conn)


cdef class Ticker(Deadlines):
    cdef public object loop, clock, handle, on_idle
    cdef public double interval
    cdef public set connections


cdef class Timers(Deadlines):
    cdef public object loop, handle, write_handle
