"""The MLP classifier: network, training, batched scoring and safetensors checkpoints."""

from gpu_mc.model.checkpoint import TrainedModel, load_model, save_model
from gpu_mc.model.network import MLP

__all__ = ["MLP", "TrainedModel", "load_model", "save_model"]
