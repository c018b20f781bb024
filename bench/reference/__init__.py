"""Hand-written PyTorch models, written the way torchvision and tutorials write them,
to compare with the modules graphc generates from models/*.model."""
