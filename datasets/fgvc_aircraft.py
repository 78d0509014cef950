"""FGVC-Aircraft (100 variants): ``fgvc_aircraft/images``, ``variants.txt``, ``images_variant_{train,val,test}.txt``.

The official split is used as is (no split_zhou file).
"""
import os.path as osp

from sempt.backend import DATASET_REGISTRY, Datum
from sempt.data.coop import CoOpDataset, DatasetError, write_bytes


@DATASET_REGISTRY.register()
class FGVCAircraft(CoOpDataset):
    dataset_dir = "fgvc_aircraft"
    image_dir = "images"
    split_file = ""
    guide_section = "fgvcaircraft"
    config_name = "fgvc_aircraft"
    template = "a photo of a {}, a type of aircraft."
    expected = dict(classes=100, train=3334, val=3333, test=3333)
    groups = ("base2new", "few_shot", "xd_target")
    table_order = 6

    @classmethod
    def write_test_tree(cls, root, classnames, per_class, image):
        """The official files: ``variants.txt`` and ``images_variant_<split>.txt`` naming 7-digit image ids."""
        base = osp.join(root, cls.dataset_dir)
        write_bytes(osp.join(base, "variants.txt"), "".join(f"{c}\n" for c in classnames).encode())
        image_id = 1000000
        for key, count in zip(("train", "val", "test"), per_class):
            lines = []
            for label, name in enumerate(classnames):
                for _ in range(count):
                    write_bytes(osp.join(base, cls.image_dir, f"{image_id}.jpg"), image(label))
                    lines.append(f"{image_id} {name}\n")
                    image_id += 1
            write_bytes(osp.join(base, f"images_variant_{key}.txt"), "".join(lines).encode())
        return base

    def _lines(self, name):
        path = osp.join(self.dataset_dir, name)
        if not osp.isfile(path):
            raise DatasetError(f"{path} is missing: copy the contents of fgvc-aircraft-2013b/data/ into "
                               f"{self.dataset_dir} (DATASETS.md#fgvcaircraft)")
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]

    def _read(self, cname2lab, name):
        items = []
        for n, line in enumerate(self._lines(name), 1):
            imname, *words = line.split(" ")
            classname = " ".join(words)
            if classname not in cname2lab:
                raise DatasetError(f"{name}:{n}: variant {classname!r} is not in variants.txt")
            items.append(Datum(impath=osp.join(self.image_dir, imname + ".jpg"), label=cname2lab[classname],
                               classname=classname))
        return items

    def load_split(self):
        cname2lab = {c: i for i, c in enumerate(self._lines("variants.txt"))}
        return tuple(self._read(cname2lab, f"images_variant_{s}.txt") for s in ("train", "val", "test"))
