// COPY is the fast path; it is only ever given rows whose keys are not stored yet.
COPY {label} FROM $frame
