"""The reference: pytorch/examples' vae/main.py as the assignment would run it, for bench/train_process.py.

    python bench/reference_vae.py [--epochs 3] [--data_dir data] [--out results/reference]

The example's own pipeline, unchanged in kind: torchvision's MNIST with ToTensor (and rounding to 0/1, the
assignment's binarisation) through a DataLoader(batch_size=128, shuffle=True), the model's encode, reparameterize and
decode, BCE + KLD summed, Adam(lr=1e-3), train(epoch) and test(epoch), and after each epoch the test reconstructions
and 64 samples saved with save_image. The model is the assignment's (784-512-2, as the project's), so both scripts
compute the same amount; the example's log lines every 10 batches are left out (printing is not what is timed).
"""
import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets, transforms
from torchvision.utils import save_image


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc21 = nn.Linear(512, 2)
        self.fc22 = nn.Linear(512, 2)
        self.fc3 = nn.Linear(2, 512)
        self.fc4 = nn.Linear(512, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--out", default="results/reference")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    binarised = transforms.Compose([transforms.ToTensor(), torch.round])
    train_loader = torch.utils.data.DataLoader(datasets.MNIST(args.data_dir, train=True, transform=binarised),
                                               batch_size=128, shuffle=True)
    test_loader = torch.utils.data.DataLoader(datasets.MNIST(args.data_dir, train=False, transform=binarised),
                                              batch_size=128, shuffle=False)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def train(epoch):
        model.train()
        train_loss = 0
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        print(f"====> Epoch: {epoch} Average loss: {train_loss / len(train_loader.dataset):.4f}")

    def test(epoch):
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n], recon_batch.view(128, 1, 28, 28)[:n]])
                    save_image(comparison, out / f"reconstruction_{epoch}.png", nrow=n)
        print(f"====> Test set loss: {test_loss / len(test_loader.dataset):.4f}")

    for epoch in range(1, args.epochs + 1):
        train(epoch)
        test(epoch)
        with torch.no_grad():
            sample = model.decode(torch.randn(64, 2))
            save_image(sample.view(64, 1, 28, 28), out / f"sample_{epoch}.png")


if __name__ == "__main__":
    main()
