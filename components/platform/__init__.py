"""The platform a region serves on: the GKE cluster and its node identity, the ComputeClass ladder, the
image mirrors, and with `regions` the fleet and the multi-cluster Gateway."""
