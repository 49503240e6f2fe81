"""Generator of the ``zoo`` family: whole real DNNs on real device classes and access networks.

Every job is one inference of AlexNet, VGG-16, ResNet-18 (block granularity) or MobileNetV2 with
every unit of the profile a layer (Neurosurgeon's and DADS's setting of per-layer partitioning),
on microcontroller-, Raspberry-Pi-, Jetson- or phone-class devices over CAT1, 3G, 4G, Wi-Fi or
5G, with the input sent as a float32 tensor or a compressed image. See ``instances/zoo.toml``.
"""

from __future__ import annotations

from ._fleet import STRUCTURAL, build_fleet, check, fleet_params  # noqa: F401

PARAMS = fleet_params(layers=False, capacities=False, deadlines=False)


def build(p, rng_structure, rng_env):
    """The nominal instance and the per-device mean SNR."""
    return build_fleet(p, rng_structure)
