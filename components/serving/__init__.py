"""What serves the model: the engines, the inference server, the model store and its loader, the
token Secret."""
