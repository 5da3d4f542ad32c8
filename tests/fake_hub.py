"""Stand-ins for huggingface_hub's errors, by the shape the loader relies on (huggingface_hub 2.4.0
errors.py): HfHubHTTPError is an OSError with `.response.status_code`; the loader tells them apart by
class name (components/serving/model_loader.py `explain`)."""

import types


class HfHubHTTPError(OSError):
    def __init__(self, status, message="Client Error"):
        super().__init__(f"{status} {message}")
        self.response = types.SimpleNamespace(status_code=status)


class RepositoryNotFoundError(HfHubHTTPError):
    pass


class GatedRepoError(RepositoryNotFoundError):
    pass


class RevisionNotFoundError(HfHubHTTPError):
    pass
