"""The offline plan: runs the real program under Pulumi's mock runtime, renders and validates what a
stack would deploy. Used by `make plan` and by the tests."""
