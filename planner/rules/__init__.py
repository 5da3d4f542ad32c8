"""Rules the CRD objects (ComputeClass, PodMonitoring, the multi-cluster Gateway's) must satisfy for
GKE's API server to accept them: the components check their own objects with them before creating
anything, and the plan checks what it rendered."""
