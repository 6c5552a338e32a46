"""Are the samples digits? A small convolutional classifier trained on real MNIST reads a generator's samples.

A sample counts as recognised when the classifier gives one digit at least 90%. Used by the report's sample table
(`python bench/sample_quality.py`) and by the spread over seeds (`python -m train ensemble --spread_dir ...`).
"""
import torch
from torch import nn

SURE = 0.9  # the classifier's probability for its top digit above which a sample counts as recognised


def classifier():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def train_classifier(data, seed, epochs=2):
    """data: load_mnist's dict -> (the classifier in eval mode, its accuracy on the test set). Adam 1e-3, batch 128."""
    torch.manual_seed(seed)
    (x, y), (tx, ty) = data["train"], data["test"]
    net = classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            loss = nn.functional.cross_entropy(net(x[idx].view(-1, 1, 28, 28)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.inference_mode():
        accuracy = torch.cat([net(tx[i:i + 1000].view(-1, 1, 28, 28)).argmax(1) for i in range(0, len(tx), 1000)])
    return net, (accuracy == ty).float().mean().item()


@torch.inference_mode()
def read(net, images):
    """images (N, 784) in [0, 1] -> (recognised share, class histogram (10,) of the recognised)."""
    p = torch.cat([net(images[i:i + 1000].view(-1, 1, 28, 28)).softmax(1) for i in range(0, len(images), 1000)])
    confident, label = p.max(1)
    ok = confident >= SURE
    return ok.float().mean().item(), torch.bincount(label[ok], minlength=10).float() / max(1, ok.sum().item())
