"""The 2-D latent grid behind manifold_digits.png and the app's latent views (the grid the report explains)."""
import torch


def latent_grid(n=20, lim=2.0):
    """The n x n points of [-lim, lim]^2, in the order they are drawn: (n*n, 2).

    Row r, column c of the picture is z = (z1, z2) = (-lim + c*step, lim - r*step): z1 grows to the right and z2
    grows upwards, as on the scatter plot of the codes, so the two figures can be laid over each other.
    """
    axis = torch.linspace(-lim, lim, n)
    z2, z1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([z1, z2], dim=-1).reshape(-1, 2)


@torch.inference_mode()
def decode_grid(model, n=20, lim=2.0, y=None):
    """Decode latent_grid(n, lim) into (n*n, C, H, W) images, row-major, ready for make_grid(nrow=n); a conditional
    model decodes every point with the label y."""
    z = latent_grid(n, lim).to(next(model.parameters()).device)
    return (model.decode(z) if y is None else model.decode(z, y)).view(-1, *model.image_shape)


def lerp_path(a, b, steps):
    """The straight line from code a to code b (each (n,)) in `steps` evenly spaced points: (steps, n)."""
    t = torch.linspace(0, 1, int(steps)).unsqueeze(1)
    return (1 - t) * a + t * b
