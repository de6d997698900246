"""What our Triton python models import inside Triton's stub (`model_repository/*/1/model.py`): the tensor
contract shared with every client, the request/response glue, and the models' settings."""
