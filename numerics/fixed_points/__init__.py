"""Fixed points of the neuron flow dz/dt = F(z): every equilibrium, its stability, basins, continuation.

neuron_field (the field of one sign class, from theory/), arrangement (the faces of the inverted
hyperplane arrangement), faces (the reduced data and the faces' equations), enumeration (every
face screened), classification (stability and transversal attraction), equilibria
(find_equilibria: the driver and its result), sampling (the fallback for large or degenerate
arrangements), polish (mpmath and python-flint), basins (the Filippov flow of many neurons),
continuation (equilibria along a path of data), attractor_count (the equilibria a network's
neurons reach), phase_portrait (the plane picture).
"""
