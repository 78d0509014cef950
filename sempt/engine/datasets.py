"""``Datum``, ``DatasetBase`` and the dataset registry with Dassl's interface and sampling."""
import random
from collections import defaultdict

from .registry import Registry

__all__ = ["Datum", "DatasetBase", "DATASET_REGISTRY", "build_dataset"]

DATASET_REGISTRY = Registry("DATASET")


def build_dataset(cfg):
    return DATASET_REGISTRY.build(cfg.DATASET.NAME, cfg, verbose=cfg.VERBOSE)


class Datum:
    """One sample: image path, label, domain and class name.

    Dassl checks ``isfile`` for every sample here; the readers of this project check all paths of a split
    at once instead, so a missing image gives one clear report rather than a bare assertion.
    """

    __slots__ = ("_impath", "_label", "_domain", "_classname")

    def __init__(self, impath="", label=0, domain=0, classname=""):
        if not isinstance(impath, str):
            raise TypeError(f"Datum.impath must be a str, got {type(impath).__name__}")
        self._impath = impath
        self._label = int(label)
        self._domain = int(domain)
        self._classname = classname

    impath = property(lambda self: self._impath)
    label = property(lambda self: self._label)
    domain = property(lambda self: self._domain)
    classname = property(lambda self: self._classname)

    def __repr__(self):
        return f"Datum({self._impath!r}, label={self._label}, classname={self._classname!r})"

    def __eq__(self, other):
        return isinstance(other, Datum) and (self._impath, self._label, self._domain, self._classname) == (
            other._impath, other._label, other._domain, other._classname)

    def __hash__(self):
        return hash((self._impath, self._label, self._domain, self._classname))


class DatasetBase:
    """Holds ``train_x``, ``train_u``, ``val`` and ``test`` lists of ``Datum``; classes derive from ``train_x``."""

    dataset_dir = ""
    domains = []

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    train_x = property(lambda self: self._train_x)
    train_u = property(lambda self: self._train_u)
    val = property(lambda self: self._val)
    test = property(lambda self: self._test)
    lab2cname = property(lambda self: self._lab2cname)
    classnames = property(lambda self: self._classnames)
    num_classes = property(lambda self: self._num_classes)

    @staticmethod
    def get_num_classes(data_source):
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source):
        mapping = {item.label: item.classname for item in data_source}
        labels = sorted(mapping)
        return mapping, [mapping[label] for label in labels]

    def check_input_domains(self, source_domains, target_domains):
        if not source_domains or not target_domains:
            raise ValueError("source_domains and target_domains must not be empty")
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains):
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def generate_fewshot_dataset(self, *data_sources, num_shots=-1, repeat=False):
        """Sample ``num_shots`` items per label from each source with Python's ``random``.

        The call sequence (labels in order of first appearance, ``random.sample`` per label,
        ``random.choices`` when repeating) is Dassl's, so a seed gives the same subset as CoOp.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources
        print(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            sampled = []
            for _, items in self.split_dataset_by_label(data_source).items():
                if len(items) >= num_shots:
                    sampled.extend(random.sample(items, num_shots))
                elif repeat:
                    sampled.extend(random.choices(items, k=num_shots))
                else:
                    sampled.extend(items)
            output.append(sampled)
        return output[0] if len(output) == 1 else output

    def split_dataset_by_label(self, data_source):
        output = defaultdict(list)
        for item in data_source:
            output[item.label].append(item)
        return output

    def split_dataset_by_domain(self, data_source):
        output = defaultdict(list)
        for item in data_source:
            output[item.domain].append(item)
        return output
