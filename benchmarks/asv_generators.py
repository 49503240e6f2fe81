"""asv: generating instances of the families (issue 14: a job is built where it runs, so
generation is on every job's path) and drawing stream frames.

``setup`` checks that the timed call gives the family's pinned instance (the frozen sets' digests
are what ``offbench instances verify-sets`` checks; here one instance per family).
"""

from offbench.families import get_family

#: Instance (seed 7, index 3) of each family, as tests/test_families.py pins it.
GOLDEN = {
    "dmro-v1": "34e5ddff9585aa042e60477ea9904b500d877190d3e54e371e145438f40aa01b",
    "capacitated-v1:small": "59e5413dcf33aeca817a259b7b886344d0242c163d415ed41d9406f6c355065c",
    "zoo-v1:fleet": "a9ad6e29266d66ed00a1f0457235afe8ab93c386d6c391c9771f5f41d52233d6",
    "scale-v1:n10": "4f5ab1d0c5c1acfd584039b6643bb3d44e5befd5c6ddb4f2bc4cddc98dd27849",
}


class Generate:
    params = (list(GOLDEN),)
    param_names = ["family"]

    def setup(self, family):
        self.fam = get_family(family)
        assert self.fam.generate(7, 3).digest == GOLDEN[family]

    def time_generate_100(self, family):
        """100 instances (divide by 100: the cost of one)."""
        for i in range(100):
            self.fam.generate(0, i)

    def time_generate_and_digest_100(self, family):
        """What a run does with each: generate it and compute its content digest."""
        for i in range(100):
            self.fam.generate(0, i).digest


class StreamFrames:
    def setup(self):
        self.fam = get_family("dmro-v1")
        next(iter(self.fam.stream(0, 1)))

    def time_dmro_stream_100_frames(self):
        for _ in self.fam.stream(0, 100):
            pass
