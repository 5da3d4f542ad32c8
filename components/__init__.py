"""ComponentResources that turn Settings into resources. None of them reads Pulumi config."""
