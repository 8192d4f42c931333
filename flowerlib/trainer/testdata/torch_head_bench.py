"""PyTorch 1.13 CPU reference for the seed's head: times a few Adam steps, batch 32.

Usage: python3 torch_head_bench.py KIND STEPS  (KIND: flatten | pooled)
Prints one line: "seconds_per_step S".
Same head as flowerlib/head: [BN] → Dense(2048, relu) → BN → Dense(1024, relu) → BN → Dense(5),
cross-entropy on logits, Adam(lr=1e-3, eps=1e-7), on random features (speed does not depend on values).
"""
import sys, time
import torch

kind, steps = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(2)
torch.manual_seed(0)
d = 7 * 7 * 2048 if kind == "flatten" else 2048
net = torch.nn.Sequential(
    torch.nn.BatchNorm1d(d, eps=1e-3, momentum=0.01), torch.nn.Linear(d, 2048), torch.nn.ReLU(),
    torch.nn.BatchNorm1d(2048, eps=1e-3, momentum=0.01), torch.nn.Linear(2048, 1024), torch.nn.ReLU(),
    torch.nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01), torch.nn.Linear(1024, 5))
opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
x = torch.rand(32, d)
y = torch.randint(0, 5, (32,))
def step():
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
step()  # warm-up
t = time.time()
for _ in range(steps):
    step()
print("seconds_per_step %.4f" % ((time.time() - t) / steps))
