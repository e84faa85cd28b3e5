import sys
from pathlib import Path

# the helpers beside the tests (motion_fixtures) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

import torch

# One intra-op thread: the tests' tensors are small, and on a busy 2-core machine OpenMP's
# spinning threads cost more than they give (see racines.motion.warp.torch_threads).
torch.set_num_threads(1)
