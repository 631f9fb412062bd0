/* The options table and the parser it drives (see options.h). */
#include "hessrmt/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/eigensolver.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/model.h"
#include "hessrmt/precision.h"
#include "hessrmt/provenance.h"
#include "hessrmt/relu_sim.h"
#include "hessrmt/spectra_run.h"
#include "hessrmt/stats.h"
#include "hessrmt/train.h"
#include "hessrmt/version.h"
#include "options_table.h"

/* The strings --kind, --solver, --precision and --method map onto the
 * enums their modules own. */
#define HR_KIND_CHOICES HR_KIND_NAMES
#define HR_SOLVER_CHOICES HR_SOLVER_NAMES
#define HR_PRECISION_CHOICES HR_PRECISION_NAMES
#define HR_METHOD_CHOICES HR_METHOD_NAMES

#define FIELD(f) offsetof(hr_options_t, f)
#define ALL_SOLVING_COMMANDS (HR_CMD_ENSEMBLE | HR_CMD_HESSIAN)
#define STATS_COMMANDS (HR_CMD_STATS | ALL_SOLVING_COMMANDS)
#define DATA_COMMANDS (HR_CMD_HESSIAN | HR_CMD_TRAIN)
#define LAYOUT_COMMANDS (ALL_SOLVING_COMMANDS | HR_CMD_RELU_SIM)
#define ALL_COMMANDS (FIGURE_COMMANDS | HR_CMD_TRAIN | HR_CMD_MERGE)
#define FIGURE_COMMANDS (STATS_COMMANDS | HR_CMD_RELU_SIM | HR_CMD_LOSSFIT)

static const opt_entry_t option_table[] = {
  /* ensemble */
  {"kind", 0, OPT_CHOICE, FIELD(kind), "goe", HR_KIND_CHOICES, 0, 0, "KIND",
   "Ensemble", "matrix ensemble: goe (N(0,1) off-diagonal, N(0,2) diagonal), "
   "poisson (diagonal of uniform levels), wishart (X^T X / m), tridiag "
   "(the (2,-1) matrix, eigenvalues 2-2cos(k pi/(N+1))), beta (Gaussian "
   "beta ensemble from its tridiagonal model: GOE, GUE, GSE spectra for "
   "--beta 1, 2, 4), gp-loss (the Hessian of a Gaussian-process loss with "
   "an isotropic kernel: off-diagonal N(0, b), diagonal covariance a 11^T + "
   "2b I; see --gp-a, --gp-b, --degenerate, --outliers)",
   HR_CMD_ENSEMBLE, 1},
  {"n", 0, OPT_INT, FIELD(n), "1000", NULL, 1, 2147483647, "N", "Ensemble",
   "matrix order N (any that fits: ScaLAPACK's 32-bit descriptors bound N "
   "and each rank's local rows, not N^2; see --dry-run)", HR_CMD_ENSEMBLE, 1},
  {"count", 0, OPT_INT, FIELD(count), "1", NULL, 1, 1e9, "K", "Ensemble",
   "number of matrices (rows of hessian_evals)", HR_CMD_ENSEMBLE, 1},
  {"seed", 0, OPT_INT, FIELD(seed), "1", NULL, 0, 9.2e18, "S", "Ensemble",
   "random seed; matrix k entry (i,j) depends only on (S, k, i, j)",
   HR_CMD_ENSEMBLE, 1},
  {"output", 'o', OPT_STRING, FIELD(output), "spectra.h5", NULL, 0, 0, "FILE",
   "Output", "spectra file to write (HDF5; written as FILE.partial and "
   "renamed when complete)", HR_CMD_HESSIAN, 0},

  /* hessian: data */
  {"data", 0, OPT_STRING, FIELD(data), "synthetic", NULL, 0, 0, "PATH", "Data",
   "features: synthetic, FILE.h5, features.npy, *-ubyte[.gz] (IDX) or "
   "FILE.csv[.gz] (label in the last column)", DATA_COMMANDS, 1},
  {"labels", 0, OPT_STRING, FIELD(labels), "", NULL, 0, 0, "PATH", "Data",
   "labels for .npy and IDX features (labels.npy, *-labels-idx1-ubyte)",
   DATA_COMMANDS, 1},
  {"features-dset", 0, OPT_STRING, FIELD(features_dset), "features", NULL, 0,
   0, "NAME", "Data", "HDF5 dataset of the features (n x d)", DATA_COMMANDS, 1},
  {"labels-dset", 0, OPT_STRING, FIELD(labels_dset), "labels", NULL, 0, 0,
   "NAME", "Data", "HDF5 dataset of the labels (n)", DATA_COMMANDS, 1},
  {"targets", 0, OPT_STRING, FIELD(targets), "", NULL, 0, 0, "PATH", "Data",
   "real-valued regression targets (n or n x C; .h5, .npy or .csv) for "
   "--loss mse, instead of one-hot labels", DATA_COMMANDS, 1},
  {"targets-dset", 0, OPT_STRING, FIELD(targets_dset), "targets", NULL, 0, 0,
   "NAME", "Data", "HDF5 dataset of the targets", DATA_COMMANDS, 1},
  {"limit", 0, OPT_INT, FIELD(limit), "0", NULL, 0, 9e15, "N", "Data",
   "use only the first N rows (0 = all)", DATA_COMMANDS, 1},
  {"scale-pixels", 0, OPT_FLAG, FIELD(scale_pixels), NULL, NULL, 0, 0, NULL,
   "Data", "map pixel values 0..255 to [-1, 1] (the paper's MNIST "
   "normalisation)", DATA_COMMANDS, 1},
  {"standardize", 0, OPT_FLAG, FIELD(standardize), NULL, NULL, 0, 0, NULL,
   "Data", "make every feature mean 0, variance 1 over the whole dataset",
   DATA_COMMANDS, 1},
  {"n", 0, OPT_INT, FIELD(rows), "512", NULL, 1, 9e15, "N", "Data",
   "synthetic data: number of rows", DATA_COMMANDS, 1},
  {"dim", 0, OPT_INT, FIELD(dim), "20", NULL, 1, 1e7, "D", "Data",
   "synthetic data: features per row", DATA_COMMANDS, 1},
  {"classes", 0, OPT_AUTOINT, FIELD(classes), "auto", NULL, 1, 1e6, "C",
   "Data", "number of classes; auto = the model's outputs, else the largest "
   "label + 1 (synthetic: 4)", DATA_COMMANDS, 1},
  {"separation", 0, OPT_DOUBLE, FIELD(separation), "3", NULL, 0, 1e6, "S",
   "Data", "synthetic data: distance scale between class means (noise has "
   "unit variance)", DATA_COMMANDS, 1},
  {"seed", 0, OPT_INT, FIELD(seed), "1", NULL, 0, 9.2e18, "S", "Data",
   "synthetic data: random seed (row i depends only on S and i)",
   DATA_COMMANDS, 1},

  /* hessian: model */
  {"model", 0, OPT_STRING, FIELD(model), "", NULL, 0, 0, "SPEC",
   "Model", "logistic (softmax regression); mlp:D-H1-...-C; a preset: lenet "
   "(3x32x32; lenet:1x28x28 for MNIST shapes), mnist-mlp, mnist-mlp-deep, "
   "bike-mlp, resnet-mini (3x32x32); or a graph of operations, "
   "comma-separated items, each reading the one before it: 'input CxHxW', "
   "'conv OUT K [stride S] [pad P]', 'maxpool|avgpool K [stride S] [pad P]', "
   "'gap', 'flatten', 'linear OUT', 'batchnorm', 'layernorm', 'add NAME', "
   "'mul X', 'relu', 'tanh', 'gelu', 'silu', 'sigmoid', 'softplus', 'elu', "
   "'leaky_relu', 'identity', 'dropout'; any item may end with 'nobias', "
   "'from NAME' and 'as NAME' (docs/models.md); e.g. \"input 1x28x28, conv 6 "
   "5, relu, maxpool 2, flatten, linear 10\". Default: the spec stored in "
   "--weights, else logistic",
   DATA_COMMANDS, 1},
  {"activation", 0, OPT_CHOICE, FIELD(activation), "relu",
   HR_ACTIVATION_CHOICES, 0, 0, "A", "Model",
   "activation between the layers of an mlp:D-H-...-C spec", DATA_COMMANDS, 1},
  {"bias", 0, OPT_FLAG, FIELD(bias), "yes", NULL, 0, 0, NULL, "Model",
   "layers have biases (the default)", DATA_COMMANDS, 1},
  {"no-bias", 0, OPT_FLAG_OFF, FIELD(bias), NULL, NULL, 0, 0, NULL, "Model",
   "layers have no biases", DATA_COMMANDS, 0},
  {"loss", 0, OPT_CHOICE, FIELD(loss), "ce", HR_LOSS_CHOICES, 0, 0, "L",
   "Model", "per-sample loss: ce (softmax cross-entropy) or mse (1/2 |f - "
   "t|^2, t one-hot or --targets)", DATA_COMMANDS, 1},
  {"weights", 0, OPT_STRING, FIELD(weights), "", NULL, 0, 0, "FILE.h5",
   "Model", "trained weights (train: the weights to start from): "
   "layers/<l>/weight ((out, in) or (out, in, kh, kw)) and layers/<l>/bias, "
   "and the model's spec; without it, --init-seed", DATA_COMMANDS, 1},
  {"init-seed", 0, OPT_INT, FIELD(init_seed), "1", NULL, 0, 9.2e18, "S",
   "Model", "untrained weights: PyTorch's default uniform +-1/sqrt(fan_in) "
   "from seed S", DATA_COMMANDS, 1},

  /* hessian: what to compute */
  {"batch-size", 0, OPT_AUTOINT, FIELD(batch_size), "all", NULL, 1, 9e15, "B",
   "Hessian", "all: one Hessian of the whole dataset; B: one spectrum per "
   "consecutive batch of B rows (the last may be shorter)", HR_CMD_HESSIAN, 1},
  {"max-batches", 0, OPT_INT, FIELD(max_batches), "0", NULL, 0, 9e15, "K",
   "Hessian", "stop after K batches (0 = all)", HR_CMD_HESSIAN, 1},
  {"first-batch", 0, OPT_INT, FIELD(first_batch), "0", NULL, 0, 9e15, "F",
   "Hessian", "start at batch F (job arrays split batch ranges)",
   HR_CMD_HESSIAN, 1},
  {"block", 0, OPT_STRING, FIELD(block), "", NULL, 0, 0, "L|NAME", "Hessian",
   "only the diagonal block of parameterised layer L (0-based; its weight "
   "and bias), or of the parameters a PyTorch name selects (conv1.weight, "
   "a layer conv1, a prefix layer1): the exact spectrum of that principal "
   "sub-matrix; several, comma-separated, are solved in turn",
   HR_CMD_HESSIAN, 1},
  {"params", 0, OPT_STRING, FIELD(params), "", NULL, 0, 0, "A:B", "Hessian",
   "only the block of parameter tensors A..B (inclusive) in "
   "model.parameters() order (layer l's weight is one tensor, its bias the "
   "next)", HR_CMD_HESSIAN, 1},
  {"slq", 0, OPT_STRING, FIELD(slq), "", NULL, 0, 0, "M,K", "Hessian",
   "also the stochastic Lanczos quadrature density estimate PyHessian "
   "reports: M Lanczos steps for each of K Rademacher probes, from the same "
   "rows (datasets slq_nodes, slq_weights; stats measures its distance from "
   "the exact spectrum)", HR_CMD_HESSIAN, 1},
  {"part", 0, OPT_CHOICE, FIELD(part), "full", HR_PART_CHOICES, 0, 0, "P",
   "Hessian", "full H, gn = Gauss-Newton H0 = sum J^T Lambda J, residual = "
   "H1 = H - H0", HR_CMD_HESSIAN, 1},
  {"method", 0, OPT_CHOICE, FIELD(method), "auto", HR_METHOD_CHOICES, 0, 0,
   "M", "Hessian", "dense (assemble H and solve), gram (nonzero eigenvalues "
   "from G G^T where exact: logistic, or --part gn), lowrank (range found "
   "by Hessian-vector products, checked, batches only), reduced (the "
   "exact subspace of the batch's input span: models whose first layer "
   "with parameters is linear); auto picks the cheapest exact one by a "
   "flop model that --dry-run shows", HR_CMD_HESSIAN, 1},
  {"reduction", 0, OPT_CHOICE, FIELD(reduction), "mean", HR_REDUCTION_CHOICES,
   0, 0, "R", "Hessian", "loss over the samples of a spectrum: mean, or sum "
   "(what the paper's scripts used per batch)", HR_CMD_HESSIAN, 1},
  {"beta", 0, OPT_DOUBLE, FIELD(beta), "1", NULL, 1e-3, 1e3, "B",
   "Ensemble", "Dyson index of --kind beta (1 GOE, 2 GUE, 4 GSE; any B > 0)",
   HR_CMD_ENSEMBLE, 1},
  {"wishart-ratio", 0, OPT_DOUBLE, FIELD(wishart_ratio), "0.5", NULL, 1e-6,
   1e6, "C", "Ensemble",
   "wishart aspect ratio C = N/m: X is m x N with m = ceil(N/C); for C < 1 "
   "the spectrum fills the Marchenko-Pastur support [(1-sqrt C)^2, "
   "(1+sqrt C)^2]", HR_CMD_ENSEMBLE, 1},
  /* gp-loss: B > 0, F < 1 and K + floor(F N) <= N are checked with the
   * kind (hr_ensemble_check), where the messages can name both. */
  {"gp-a", 0, OPT_DOUBLE, FIELD(gp_a), "1", NULL, 0, 1e6, "A", "Ensemble",
   "gp-loss: the diagonal's common part, Cov(H_ii, H_jj) = A for i != j (an "
   "isotropic kernel's k''(0) for the plain GP, as is B; A = 0, B = 1 and "
   "no --degenerate or --outliers: exactly the GOE of the same seed)",
   HR_CMD_ENSEMBLE, 1},
  {"gp-b", 0, OPT_DOUBLE, FIELD(gp_b), "1", NULL, 0, 1e6, "B", "Ensemble",
   "gp-loss: variance B > 0 of the off-diagonal entries; the diagonal's is "
   "A + 2B", HR_CMD_ENSEMBLE, 1},
  {"degenerate", 0, OPT_DOUBLE, FIELD(degenerate), "0", NULL, 0, 1, "F",
   "Ensemble", "gp-loss: set floor(F N) rows and columns to zero (the last "
   "ones; which ones does not matter, a permutation is a similarity), "
   "0 <= F < 1: that many zero eigenvalues", HR_CMD_ENSEMBLE, 1},
  {"outliers", 0, OPT_INT, FIELD(outliers), "0", NULL, 0, 2147483647, "K",
   "Ensemble", "gp-loss: add S 2 sqrt(B M) (S bulk radii; M = N - floor(F "
   "N), the non-degenerate order) to the first K diagonal entries: K large "
   "outlying eigenvalues", HR_CMD_ENSEMBLE, 1},
  {"outlier-scale", 0, OPT_DOUBLE, FIELD(outlier_scale), "10", NULL, 0, 1e6,
   "S", "Ensemble", "gp-loss: size S of the --outliers in semicircle radii",
   HR_CMD_ENSEMBLE, 1},
  {"output", 'o', OPT_STRING, FIELD(output), "spectra.h5", NULL, 0, 0, "FILE",
   "Ensemble", "spectra file to write (HDF5; written as FILE.partial and "
   "renamed when complete)", HR_CMD_ENSEMBLE, 0},

  /* layout and solver */
  {"solver", 0, OPT_CHOICE, FIELD(solver), "auto", HR_SOLVER_CHOICES, 0, 0,
   "NAME", "Eigensolver and layout",
   "eigensolver: elpa2 (ELPA 2-stage), elpa1 (ELPA "
   "1-stage), pdsyevr or pdsyev (ScaLAPACK; pdsyev is the leanest: the "
   "matrix plus O(N nb)), lapack (LAPACK's two-stage dsyev, or dsyevd "
   "with --eigenvectors; one rank per group).  auto: lapack on one-rank groups, else elpa2 if it fits "
   "--max-mem, else pdsyev; with --eigenvectors, elpa1 on more than one "
   "rank", LAYOUT_COMMANDS, 1},
  {"eigenvectors", 0, OPT_INT, FIELD(eigenvectors), "0", NULL, 0, 1e9, "K",
   "Eigensolver and layout",
   "also the eigenvectors of the K smallest and K largest eigenvalues "
   "(dataset hessian_evecs, spectra x 2K x N; residuals |A v - lambda v| in "
   "checks/evec_residual; stats tests them against random-matrix theory); "
   "double precision, the dense path; memory: one more N x N matrix",
   ALL_SOLVING_COMMANDS, 1},
  {"precision", 0, OPT_CHOICE, FIELD(precision), "double",
   HR_PRECISION_CHOICES, 0, 0, "P", "Eigensolver and layout",
   "precision of the matrix and the solve", LAYOUT_COMMANDS, 1},
  {"grid", 0, OPT_GRID, FIELD(grid_rows), "auto", NULL, 0, 0, "PxQ",
   "Eigensolver and layout",
   "BLACS process grid of each group (P*Q = ranks per group); auto is as "
   "square as possible", LAYOUT_COMMANDS, 0},
  {"nblk", 0, OPT_AUTOINT, FIELD(nblk), "auto", NULL, 1, 4096, "NB",
   "Eigensolver and layout",
   "block-cyclic block size; auto picks the largest of 64, 32, 16, ... that "
   "ELPA 2-stage accepts (nblk*(max(P,Q)-1) < N)", LAYOUT_COMMANDS, 0},
  {"groups", 0, OPT_AUTOINT, FIELD(groups), "auto", NULL, 1, 1e6, "G",
   "Eigensolver and layout",
   "split the ranks into G groups, each with its own grid; matrices are "
   "dealt round-robin to groups; auto: one group per rank (at most one per "
   "spectrum) for hessian's gram, lowrank and reduced batch spectra, small "
   "problems one rank solves fastest; else 1", LAYOUT_COMMANDS, 0},
  {"max-mem", 0, OPT_BYTES, FIELD(max_mem), "auto", NULL, 0, 0, "BYTES",
   "Eigensolver and layout",
   "refuse to run if the estimated memory per rank exceeds BYTES (suffix "
   "K, M, G, T; auto = the least of the node's available memory and its "
   "cgroup's room, both over the ranks on the node, and the rank's ulimit -v)",
   LAYOUT_COMMANDS, 0},

  /* statistics */
  {"dataset", 0, OPT_STRING, FIELD(stats_dataset), "hessian_evals", NULL, 0, 0,
   "NAME", "Statistics", "dataset of spectra (one per row, as the paper's "
   "scripts wrote them)", HR_CMD_STATS, 0},
  {"no-stats", 0, OPT_FLAG, FIELD(no_stats), NULL, NULL, 0, 0, NULL,
   "Statistics", "do not run the statistics of 'hessrmt stats' on the "
   "spectra at the end", ALL_SOLVING_COMMANDS, 0},
  {"cut", 0, OPT_AUTODOUBLE, FIELD(cut), "auto", NULL, 0, 1e300, "EPS",
   "Statistics", "levels with |l| <= EPS are numerical zeros and are left "
   "out; auto = 100 eps N max|l| of each spectrum, eps of the file's "
   "precision, N its levels that are not exactly 0 (the order solved: "
   "gram, lowrank and reduced pad with exact zeros)", STATS_COMMANDS, 0},
  {"unfold", 0, OPT_CHOICE, FIELD(unfold), "auto", HR_UNFOLD_CHOICES, 0, 0,
   "M", "Statistics", "unfolding: pool (every third spectrum against the "
   "pooled levels of the rest), poly (polynomial fit of the counting "
   "function), kde (integrated Gaussian kernel density), spline (cubic "
   "B-spline of the counting function, knots at quantiles); auto = try, on "
   "each spectrum's bulk, spline, pool (6 or more spectra), poly 3, 6, 9, "
   "12, kde and keep the first that is monotone and flat (mean spacing 1 in "
   "each tenth of the range), else report the spacing and long-range "
   "statistics as unreliable; all = auto, and every unfolding side by side "
   "with a warning when the spacing verdict depends on it",
   STATS_COMMANDS, 0},
  {"poly-degree", 0, OPT_INT, FIELD(poly_degree), "9", NULL, 1, 30, "D",
   "Statistics", "degree of the polynomial of --unfold poly", STATS_COMMANDS, 0},
  {"trim", 0, OPT_DOUBLE, FIELD(trim), "0.05", NULL, 0, 0.45, "F",
   "Statistics", "fraction of each spectrum's kept levels left out at each "
   "end after unfolding (and of the poly fit): edges and outliers distort "
   "the unfolding", STATS_COMMANDS, 0},
  {"json", 0, OPT_STRING, FIELD(json), "", NULL, 0, 0, "FILE", "Statistics",
   "write the statistics as JSON (several input files: an array)",
   STATS_COMMANDS, 0},
  {"plots", 0, OPT_STRING, FIELD(plots), "", NULL, 0, 0, "DIR", "Statistics",
   "write figures (PNG and SVG) into DIR: density, degeneracy, ratios, "
   "spacings, number_variance, rigidity (and paper_ratios, paper_spacings "
   "with --paper-conventions; several input files: one subdirectory each)",
   STATS_COMMANDS, 0},
  {"plot-width", 0, OPT_INT, FIELD(plot_width), "1000", NULL, 200, 8000, "PX",
   "Figures", "figure width in pixels", FIGURE_COMMANDS, 0},
  {"plot-height", 0, OPT_INT, FIELD(plot_height), "700", NULL, 150, 8000, "PX",
   "Figures", "figure height in pixels", FIGURE_COMMANDS, 0},
  {"log-density", 0, OPT_FLAG, FIELD(log_density), NULL, NULL, 0, 0, NULL,
   "Statistics", "spectral density figure on a logarithmic axis",
   STATS_COMMANDS, 0},
  {"paper-conventions", 0, OPT_FLAG, FIELD(paper_conventions), NULL, NULL, 0,
   0, NULL, "Statistics", "also compute, beside hessrmt's own statistics, "
   "those of the paper's notebooks: levels |l| > 1e-10, raw ratios "
   "r = s_(i+1)/s_i kept if r < 10 (against the GOE surmise of r), the first "
   "third of the spectra unfolded against a pool of the rest (spacings not "
   "rescaled), and the fraction of levels below 1e-100 ... 1e-4; figures "
   "paper_ratios and paper_spacings", STATS_COMMANDS, 0},

  /* train */
  /* Not part of the identity: --resume may train a checkpoint further. */
  {"epochs", 0, OPT_INT, FIELD(epochs), "10", NULL, 1, 1e7, "E", "Training",
   "passes over the training data", HR_CMD_TRAIN, 0},
  {"batch-size", 0, OPT_INT, FIELD(train_batch), "128", NULL, 1, 9e15, "B",
   "Training", "mini-batch size (summed over all ranks); the last batch of "
   "an epoch may be shorter", HR_CMD_TRAIN, 1},
  {"lr", 0, OPT_DOUBLE, FIELD(lr), "0.003", NULL, 0, 1e6, "ETA", "Training",
   "learning rate of SGD", HR_CMD_TRAIN, 1},
  {"momentum", 0, OPT_DOUBLE, FIELD(momentum), "0.9", NULL, 0, 1, "MU",
   "Training", "momentum (PyTorch's SGD form: v = mu v + g, w -= lr v)",
   HR_CMD_TRAIN, 1},
  {"weight-decay", 0, OPT_DOUBLE, FIELD(weight_decay), "5e-4", NULL, 0, 1e6,
   "WD", "Training", "L2 weight decay added to the gradient (wd w)",
   HR_CMD_TRAIN, 1},
  {"lr-schedule", 0, OPT_CHOICE, FIELD(lr_schedule), "constant",
   HR_LR_SCHEDULE_CHOICES, 0, 0, "S", "Training",
   "learning rate per epoch: constant (--lr throughout) or paper (the "
   "paper's SWA-style schedule: --lr for the first half of --epochs, then "
   "falling linearly to 0.01 --lr at 90%, 0.01 --lr after)", HR_CMD_TRAIN, 1},
  {"shuffle-seed", 0, OPT_INT, FIELD(shuffle_seed), "1", NULL, 0, 9.2e18, "S",
   "Training", "seed of the per-epoch shuffle; the order depends only on S "
   "and the epoch, never on the rank count", HR_CMD_TRAIN, 1},
  {"test-data", 0, OPT_STRING, FIELD(test_data), "", NULL, 0, 0, "PATH",
   "Training", "held-out features (same formats as --data; preprocessing "
   "fitted on the training data)", HR_CMD_TRAIN, 1},
  {"test-labels", 0, OPT_STRING, FIELD(test_labels), "", NULL, 0, 0, "PATH",
   "Training", "held-out labels for .npy and IDX test features",
   HR_CMD_TRAIN, 1},
  {"test-targets", 0, OPT_STRING, FIELD(test_targets), "", NULL, 0, 0, "PATH",
   "Training", "held-out regression targets (with --targets; same formats)",
   HR_CMD_TRAIN, 1},
  {"checkpoint-every", 0, OPT_INT, FIELD(checkpoint_every), "0", NULL, 0, 1e7,
   "K", "Training", "write FILE-epochE.h5 (the weights format hessian "
   "reads) every K epochs (0 = never)", HR_CMD_TRAIN, 0},
  {"resume", 0, OPT_STRING, FIELD(train_resume), "", NULL, 0, 0, "CKPT",
   "Training", "continue from a checkpoint written by --checkpoint-every "
   "(weights, momentum, epoch and history)", HR_CMD_TRAIN, 0},
  {"history", 0, OPT_STRING, FIELD(history), "", NULL, 0, 0, "FILE.csv",
   "Training", "also write the per-epoch losses and accuracies as CSV (what "
   "'hessrmt lossfit' reads)", HR_CMD_TRAIN, 0},
  {"output", 'o', OPT_STRING, FIELD(output), "weights.h5", NULL, 0, 0, "FILE",
   "Training", "final weights (HDF5: layers/<l>/weight, layers/<l>/bias, "
   "and the history), written atomically", HR_CMD_TRAIN, 0},

  /* relu-sim */
  {"n0", 0, OPT_STRING, FIELD(n0_list), "20", NULL, 0, 0, "LIST", "Simulation",
   "input sizes n0 (comma-separated list: every combination of the lists "
   "is run)", HR_CMD_RELU_SIM, 1},
  {"n1", 0, OPT_STRING, FIELD(n1_list), "20", NULL, 0, 0, "LIST", "Simulation",
   "hidden widths n1", HR_CMD_RELU_SIM, 1},
  {"n2", 0, OPT_STRING, FIELD(n2_list), "20", NULL, 0, 0, "LIST", "Simulation",
   "output sizes n2", HR_CMD_RELU_SIM, 1},
  {"m", 0, OPT_STRING, FIELD(m_list), "50", NULL, 0, 0, "LIST", "Simulation",
   "numbers of samples m", HR_CMD_RELU_SIM, 1},
  {"sigma", 0, OPT_DOUBLE, FIELD(sigma), "1", NULL, 1e-12, 1e6, "S",
   "Simulation", "standard deviation of data, targets and initial weights",
   HR_CMD_RELU_SIM, 1},
  {"iters", 0, OPT_INT, FIELD(iters), "2500", NULL, 0, 1e9, "T", "Simulation",
   "gradient-descent iterations", HR_CMD_RELU_SIM, 1},
  {"step", 0, OPT_DOUBLE, FIELD(step), "0.0005", NULL, 0, 1e6, "ETA",
   "Simulation", "gradient-descent step size", HR_CMD_RELU_SIM, 1},
  {"runs", 0, OPT_INT, FIELD(runs), "2", NULL, 1, 1e7, "R", "Simulation",
   "independent runs per shape", HR_CMD_RELU_SIM, 1},
  {"seed", 0, OPT_INT, FIELD(seed), "1", NULL, 0, 9.2e18, "S", "Simulation",
   "random seed; run r of a shape depends only on S, the shape and r",
   HR_CMD_RELU_SIM, 1},
  {"rescale-h1", 0, OPT_FLAG, FIELD(rescale_h1), NULL, NULL, 0, 0, NULL,
   "Simulation", "the notebook's scaling of H1 by sqrt(L_final / L_initial) "
   "(off by default: it is not the Hessian)", HR_CMD_RELU_SIM, 1},
  {"output", 'o', OPT_STRING, FIELD(output), "relu_sim.h5", NULL, 0, 0, "FILE",
   "Simulation", "results file (HDF5), written atomically", HR_CMD_RELU_SIM, 0},
  {"plots", 0, OPT_STRING, FIELD(plots), "", NULL, 0, 0, "DIR", "Figures",
   "write the loss curves (mean and 95% band) and the spectra histograms "
   "into DIR", HR_CMD_RELU_SIM, 0},

  /* lossfit */
  {"x-column", 0, OPT_STRING, FIELD(x_column), "epoch", NULL, 0, 0, "NAME",
   "Fit", "CSV column of the time axis t", HR_CMD_LOSSFIT, 0},
  {"y-column", 0, OPT_STRING, FIELD(y_column), "test_loss", NULL, 0, 0, "NAME",
   "Fit", "CSV column of the loss to fit; NAME_error where the file has "
   "only NAME_accuracy is read as 1 - NAME_accuracy", HR_CMD_LOSSFIT, 0},
  {"best-of-runs", 0, OPT_FLAG, FIELD(best_of_runs), NULL, NULL, 0, 0, NULL,
   "Fit", "one point per training run (each FILE.csv, or each --run-column "
   "value): the minimum of --y-column and the --x-column value where it is "
   "first reached; the fit is across runs (needs 4 runs at least)",
   HR_CMD_LOSSFIT, 0},
  {"run-column", 0, OPT_STRING, FIELD(run_column), "", NULL, 0, 0, "NAME",
   "Fit", "with --best-of-runs: CSV column whose values group the rows of a "
   "file into runs", HR_CMD_LOSSFIT, 0},
  {"json", 0, OPT_STRING, FIELD(json), "", NULL, 0, 0, "FILE", "Fit",
   "write the fitted parameters as JSON", HR_CMD_LOSSFIT, 0},
  {"plots", 0, OPT_STRING, FIELD(plots), "", NULL, 0, 0, "DIR", "Figures",
   "write the data and fitted curve into DIR", HR_CMD_LOSSFIT, 0},

  /* merge */
  {"output", 'o', OPT_STRING, FIELD(output), "merged.h5", NULL, 0, 0, "FILE",
   "Output", "the joined spectra file, written atomically", HR_CMD_MERGE, 0},

  /* run control */
  {"resume", 0, OPT_FLAG, FIELD(resume), NULL, NULL, 0, 0, NULL, "Run control",
   "continue from FILE.partial left by a killed run with the same arguments; "
   "finished rows are kept (no partial, or one killed before it recorded "
   "anything: start from the beginning; FILE already complete: an error)",
   ALL_SOLVING_COMMANDS, 0},
  {"quiet", 'q', OPT_FLAG, FIELD(quiet), NULL, NULL, 0, 0, NULL, "Run control",
   "no progress lines or timing table", LAYOUT_COMMANDS | HR_CMD_TRAIN, 0},
  {"debug", 0, OPT_FLAG, FIELD(debug), NULL, NULL, 0, 0, NULL, "Run control",
   "on error, also print where it happened (source trace)",
   ALL_COMMANDS, 0},
  {"dry-run", 0, OPT_FLAG, FIELD(dry_run), NULL, NULL, 0, 0, NULL, "Run control",
   "print the plan (grid, memory per rank, flops) and stop",
   HR_CMD_HESSIAN | HR_CMD_ENSEMBLE, 0},
};
enum { N_OPTIONS = sizeof option_table / sizeof option_table[0] };

static const command_entry_t command_table[] = {
  {"ensemble", HR_CMD_ENSEMBLE,
   "spectra of GOE / Poisson / Wishart / beta / GP-loss / tridiagonal matrices",
   "Eigenvalues of random-matrix ensembles (GOE, Poisson, Wishart, the "
   "Gaussian beta ensembles, the Gaussian-process model of a loss's "
   "Hessian) and of the analytic (2,-1) tridiagonal matrix, "
   "generated in the distributed layout and solved in parallel: "
   "calibration and solver checks.",
   NULL, 0, 0},
  {"hessian", HR_CMD_HESSIAN,
   "exact Hessian spectra of a model over a dataset or its mini-batches",
   "Exact eigenvalues of the loss Hessian of a model (any graph of linear, "
   "conv2d, pooling, BatchNorm (eval), LayerNorm, residual-add and "
   "activation operations: logistic regression, the paper's MLPs and "
   "LeNet, and ResNets among them) over a dataset or over each "
   "of its mini-batches: every rank "
   "reads its slice of the rows, partial Hessian blocks are summed into the "
   "2D block-cyclic matrix, and the whole spectrum is solved in parallel.",
   NULL, 0, 0},
  {"stats", HR_CMD_STATS,
   "random-matrix statistics of spectra files (no mpirun needed)",
   "Random-matrix statistics of the spectra in FILE (ours, or an HDF5 file "
   "of the paper's scripts with the same dataset): degeneracy, spacing "
   "ratios with KS tests against the Poisson, GOE, GUE and GSE laws, "
   "unfolded spacings, the Brody parameter, number variance and spectral "
   "rigidity, and a verdict naming the nearest law.  Runs serially; "
   "'ensemble' and 'hessian' run it at the end unless --no-stats.",
   "FILE...", 1, HR_MAX_INPUTS},
  {"train", HR_CMD_TRAIN,
   "data-parallel SGD training of a model hessian accepts",
   "Train any model hessian accepts by mini-batch SGD with momentum and "
   "weight decay, data-parallel: every rank reads its slice of each "
   "mini-batch and the gradients are summed with MPI_Allreduce; the shuffle "
   "depends only on the seed, so any rank count gives the same weights to "
   "rounding.  Writes weights in the format 'hessian --weights' reads.",
   NULL, 0, 0},
  {"relu-sim", HR_CMD_RELU_SIM,
   "the one-hidden-layer ReLU network simulation, with exact H0, H1, H",
   "The second seed's experiment with correct mathematics: for each shape "
   "(n0, n1, n2, m) and run, draw Gaussian data, targets and weights, run "
   "gradient descent on L = |W2 relu(W1 x) - y|^2 / (2m), record the loss, "
   "then solve the spectra of H0 (Gauss-Newton), H1 (residual) and H. Runs "
   "are dealt to rank groups.",
   NULL, 0, 0},
  {"lossfit", HR_CMD_LOSSFIT,
   "fit loss curves to a + b exp(-c t)",
   "Fit a loss-versus-time curve from a CSV file (e.g. 'train --history') "
   "to a + b exp(-c t) by nonlinear least squares (GSL), with standard "
   "errors, as in the paper's exponential hardness of the true loss.  With "
   "--best-of-runs, several files (one per run) give one point each: the "
   "run's best loss and the epoch it was reached.",
   "FILE.csv...", 1, HR_MAX_INPUTS},
  {"merge", HR_CMD_MERGE,
   "join spectra files of one job split into parts (job arrays)",
   "Join spectra files written by runs that took disjoint batch ranges of "
   "the same problem (--first-batch / --max-batches, e.g. the tasks of a "
   "job array) into one file, in batch order, after checking that their "
   "provenance agrees (command, model, data, precision, part, batch size).",
   "A.h5 B.h5 ...", 2, HR_MAX_INPUTS},
};
enum { N_COMMANDS = sizeof command_table / sizeof command_table[0] };

const opt_entry_t *hr_option_table(int *count) {
  *count = N_OPTIONS;
  return option_table;
}

const command_entry_t *hr_command_table(int *count) {
  *count = N_COMMANDS;
  return command_table;
}

/* ---- value parsing ----------------------------------------------------- */

static int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "%s (see 'hessrmt %s --help')", detail, cmd ? cmd : "");
}

static int parse_int64(const char *text, int64_t *value) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0') return -1;
  *value = v;
  return 0;
}

static int parse_bytes(const char *text, int64_t *value) {
  if (strcmp(text, "auto") == 0) { *value = 0; return 0; }
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || !isfinite(v) || v <= 0) return -1;
  double scale = 1;
  switch (*end) {
    case '\0': break;
    case 'K': case 'k': scale = 1024.0; end++; break;
    case 'M': case 'm': scale = 1024.0 * 1024; end++; break;
    case 'G': case 'g': scale = 1024.0 * 1024 * 1024; end++; break;
    case 'T': case 't': scale = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: return -1;
  }
  if (*end == 'i' || *end == 'B') end++;  /* accept 4G, 4GiB, 4GB */
  if (*end == 'B') end++;
  if (*end != '\0' || v * scale > 9.0e18) return -1;
  *value = (int64_t)(v * scale);
  return 0;
}

static int choice_index(const char *choices, const char *word) {
  size_t len = strlen(word);
  int index = 0;
  for (const char *p = choices; *p; index++) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == len && strncmp(p, word, n) == 0) return index;
    if (!bar) break;
    p = bar + 1;
  }
  return -1;
}

const char *hr_choice_name(const char *choices, int index, char *buf,
                           size_t len) {
  const char *p = choices;
  for (int i = 0; i < index && p; i++) {
    p = strchr(p, '|');
    if (p) p++;
  }
  if (!p) { snprintf(buf, len, "?"); return buf; }
  const char *bar = strchr(p, '|');
  int n = bar ? (int)(bar - p) : (int)strlen(p);
  snprintf(buf, len, "%.*s", n, p);
  return buf;
}

static int set_value(const opt_entry_t *e, const char *text,
                     hr_options_t *opts, const char *cmd) {
  char *base = (char *)opts + e->offset;
  int64_t i64;
  switch (e->type) {
    case OPT_FLAG:
      *(int *)base = 1;
      return HR_OK;
    case OPT_FLAG_OFF:
      *(int *)base = 0;
      return HR_OK;
    case OPT_STRING:
      /* "" is a default meaning "not given", never a user's value. */
      if (text[0] == '\0' && text != e->default_text)
        return usage_error(cmd, "--%s needs a non-empty value", e->name);
      *(const char **)base = text;
      return HR_OK;
    case OPT_AUTOINT:
      if (strcmp(text, e->default_text) == 0) { *(int64_t *)base = 0; return HR_OK; }
      /* fall through */
    case OPT_INT:
      if (parse_int64(text, &i64) || i64 < e->min || (double)i64 > e->max) {
        char range[128];
        snprintf(range, sizeof range, "an integer in [%.0f, %.0f]%s%s%s",
                 e->min, e->max, e->type == OPT_AUTOINT ? " or '" : "",
                 e->type == OPT_AUTOINT ? e->default_text : "",
                 e->type == OPT_AUTOINT ? "'" : "");
        char what[256];
        snprintf(what, sizeof what, "--%s %s", e->name, text);
        return usage_error(cmd, "bad value '%s': expected %s", what, range);
      }
      *(int64_t *)base = i64;
      return HR_OK;
    case OPT_AUTODOUBLE:
      if (strcmp(text, e->default_text) == 0) { *(double *)base = -1.0; return HR_OK; }
      /* fall through */
    case OPT_DOUBLE: {
      char *end;
      errno = 0;
      double v = strtod(text, &end);
      if (errno || end == text || *end || !isfinite(v) || v < e->min ||
          v > e->max) {
        char what[256], range[128];
        snprintf(what, sizeof what, "--%s %s", e->name, text);
        snprintf(range, sizeof range, "a number in [%g, %g]%s", e->min, e->max,
                 e->type == OPT_AUTODOUBLE ? " or 'auto'" : "");
        return usage_error(cmd, "bad value '%s': expected %s", what, range);
      }
      *(double *)base = v;
      return HR_OK;
    }
    case OPT_CHOICE: {
      int idx = choice_index(e->choices, text);
      if (idx < 0) {
        char what[256];
        snprintf(what, sizeof what, "--%s %s", e->name, text);
        return usage_error(cmd, "bad value '%s': expected one of %s", what,
                           e->choices);
      }
      *(int *)base = idx;
      return HR_OK;
    }
    case OPT_GRID: {
      /* The only grid option fills both grid_rows and grid_cols. */
      int *rc = &opts->grid_rows, *cc = &opts->grid_cols;
      if (strcmp(text, "auto") == 0) { *rc = 0; *cc = 0; return HR_OK; }
      int p, q, used = 0;
      if (sscanf(text, "%dx%d%n", &p, &q, &used) != 2 ||
          used != (int)strlen(text) || p < 1 || q < 1)
        return usage_error(cmd, "bad value '--grid %s': expected PxQ with "
                           "P, Q >= 1 (e.g. 2x2) or 'auto'", text);
      *rc = p;
      *cc = q;
      return HR_OK;
    }
    case OPT_BYTES:
      if (parse_bytes(text, &i64)) {
        return usage_error(cmd, "bad value '--%s %s': expected a size such as "
                           "512M or 4G, or 'auto'", e->name, text);
      }
      *(int64_t *)base = i64;
      return HR_OK;
  }
  return HR_ERR_INTERNAL;
}

/* ---- version (help: options_help.c) ------------------------------------ */

static void print_version(FILE *out) {
  fprintf(out, "hessrmt %s\n%s\n", HR_VERSION_STRING, HR_BUILD_INFO);
}

/* ---- parsing ----------------------------------------------------------- */

static void record_command_line(int argc, char **argv, hr_options_t *opts) {
  size_t used = 0;
  opts->command_line[0] = '\0';
  for (int i = 0; i < argc && used + 4 < sizeof opts->command_line; i++) {
    const char *a = argv[i];
    int quote = a[0] == '\0' || strpbrk(a, " \t\"'$\\*?;&|<>()") != NULL;
    int n = snprintf(opts->command_line + used, sizeof opts->command_line - used,
                     quote ? "%s'%s'" : "%s%s", i ? " " : "", a);
    if (n < 0) break;
    used += (size_t)n;
  }
}

static int apply_defaults(hr_options_t *opts, const char *cmd) {
  /* Strings of other commands' options read as "" rather than NULL, so
   * shared code may test any of them. */
  for (int i = 0; i < N_OPTIONS; i++)
    if (option_table[i].type == OPT_STRING)
      *(const char **)((char *)opts + option_table[i].offset) = "";
  for (int i = 0; i < N_OPTIONS; i++) {
    const opt_entry_t *e = &option_table[i];
    if (!(e->commands & opts->command) || !e->default_text) continue;
    HR_CHECK(set_value(e, e->default_text, opts, cmd));
  }
  return HR_OK;
}

static int parse_command_options(int argc, char **argv, hr_options_t *opts,
                                 const command_entry_t *c, int print,
                                 FILE *out) {
  struct option longopts[N_OPTIONS + 2];
  const opt_entry_t *by_index[N_OPTIONS + 2];
  char shortopts[2 * N_OPTIONS + 8] = ":h";
  size_t ns = strlen(shortopts);
  int n = 0;
  for (int i = 0; i < N_OPTIONS; i++) {
    const opt_entry_t *e = &option_table[i];
    if (!(e->commands & c->command)) continue;
    longopts[n] = (struct option){e->name,
                                  e->type == OPT_FLAG || e->type == OPT_FLAG_OFF
                                      ? no_argument : required_argument,
                                  NULL, 1000 + n};
    by_index[n] = e;
    if (e->short_name) {
      shortopts[ns++] = e->short_name;
      if (e->type != OPT_FLAG && e->type != OPT_FLAG_OFF) shortopts[ns++] = ':';
    }
    n++;
  }
  longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[n] = (struct option){NULL, 0, NULL, 0};
  shortopts[ns] = '\0';

  opterr = 0;
  optind = 1;
  int ch;
  while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    const opt_entry_t *e = NULL;
    if (ch == 'h') {
      if (print) hr_help_command(c, out);
      return HR_PARSE_EXIT_OK;
    } else if (ch == '?') {
      return usage_error(c->name, "unknown option '%s' for 'hessrmt %s'",
                         argv[optind - 1], c->name);
    } else if (ch == ':') {
      return usage_error(c->name, "option '%s' needs a value",
                         argv[optind - 1]);
    } else if (ch >= 1000) {
      e = by_index[ch - 1000];
    } else {
      for (int i = 0; i < N_OPTIONS && !e; i++)
        if (option_table[i].short_name == ch &&
            (option_table[i].commands & c->command))
          e = &option_table[i];
    }
    if (!e) return usage_error(c->name, "unhandled option '%s'",
                               argv[optind - 1]);
    HR_CHECK(set_value(e, optarg ? optarg : "", opts, c->name));
  }
  int extra = argc - optind;
  if (extra > c->max_inputs)
    return usage_error(c->name, "unexpected argument '%s' for 'hessrmt %s'",
                       argv[optind + c->max_inputs], c->name);
  if (extra < c->min_inputs)
    return usage_error(c->name, "'hessrmt %s' needs %s", c->name, c->positional);
  for (int i = 0; i < extra; i++) opts->inputs[i] = argv[optind + i];
  opts->n_inputs = extra;
  return HR_PARSE_RUN;
}

int hr_options_parse(int argc, char **argv, hr_options_t *opts, int print,
                     FILE *out) {
  memset(opts, 0, sizeof *opts);
  record_command_line(argc, argv, opts);
  if (argc < 2) {
    if (print) hr_help_program(out);
    return hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                        "no command given (see 'hessrmt --help')");
  }
  const char *word = argv[1];
  if (!strcmp(word, "-h") || !strcmp(word, "--help")) {
    if (print) hr_help_program(out);
    return HR_PARSE_EXIT_OK;
  }
  if (!strcmp(word, "help")) return hr_help_main(argc - 2, argv + 2, out, print);
  if (!strcmp(word, "-V") || !strcmp(word, "--version")) {
    if (print) print_version(out);
    opts->version_shown = 1;
    return HR_PARSE_EXIT_OK;
  }
  const command_entry_t *c = NULL;
  for (int i = 0; i < N_COMMANDS; i++)
    if (!strcmp(word, command_table[i].name)) c = &command_table[i];
  if (!c)
    return hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                        "unknown command '%s' (see 'hessrmt --help')", word);
  opts->command = c->command;
  opts->command_name = c->name;
  HR_CHECK(apply_defaults(opts, c->name));
  /* getopt_long sees the command word as argv[0]. */
  return parse_command_options(argc - 1, argv + 1, opts, c, print, out);
}

/* ---- provenance -------------------------------------------------------- */

static void format_value(const opt_entry_t *e, const hr_options_t *opts,
                         char *buf, size_t len) {
  const char *base = (const char *)opts + e->offset;
  switch (e->type) {
    case OPT_FLAG: snprintf(buf, len, "%s", *(const int *)base ? "yes" : "no"); break;
    case OPT_FLAG_OFF: snprintf(buf, len, "%s", *(const int *)base ? "no" : "yes"); break;
    case OPT_STRING: snprintf(buf, len, "%s", *(const char *const *)base); break;
    case OPT_AUTOINT:
    case OPT_BYTES: {
      int64_t v = *(const int64_t *)base;
      if (v == 0) snprintf(buf, len, "%s", e->default_text);
      else snprintf(buf, len, "%lld", (long long)v);
      break;
    }
    case OPT_INT: snprintf(buf, len, "%lld", (long long)*(const int64_t *)base); break;
    case OPT_DOUBLE: snprintf(buf, len, "%.17g", *(const double *)base); break;
    case OPT_AUTODOUBLE:
      if (*(const double *)base < 0) snprintf(buf, len, "%s", e->default_text);
      else snprintf(buf, len, "%.17g", *(const double *)base);
      break;
    case OPT_CHOICE: hr_choice_name(e->choices, *(const int *)base, buf, len); break;
    case OPT_GRID:
      if (opts->grid_rows == 0) snprintf(buf, len, "auto");
      else snprintf(buf, len, "%dx%d", opts->grid_rows, opts->grid_cols);
      break;
  }
}

int hr_options_visit(const hr_options_t *opts, hr_option_visitor_t visit,
                     void *ctx) {
  char value[1024];
  for (int i = 0; i < N_OPTIONS; i++) {
    const opt_entry_t *e = &option_table[i];
    if (!(e->commands & opts->command)) continue;
    format_value(e, opts, value, sizeof value);
    HR_CHECK(visit(e->name, value, e->identity, ctx));
  }
  return HR_OK;
}

typedef struct {
  hr_provenance_t *p;
  size_t used;
} provenance_ctx_t;

static int record_option(const char *name, const char *value, int identity,
                         void *vctx) {
  provenance_ctx_t *c = vctx;
  hr_provenance_t *p = c->p;
  p->names[p->count] = name;  /* the table's own, static */
  p->values[p->count] = strdup(value);
  if (!p->values[p->count])
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the provenance of --%s", name);
  p->count++;
  if (!identity) return HR_OK;
  size_t room = sizeof p->identity - c->used;
  int n = snprintf(p->identity + c->used, room, ";%s=%s", name, value);
  if (n < 0 || (size_t)n >= room)
    HR_FAIL(HR_ERR_INTERNAL, "identity string too long");
  c->used += (size_t)n;
  return HR_OK;
}

int hr_options_provenance(const hr_options_t *o, hr_provenance_t *p) {
  memset(p, 0, sizeof *p);
  p->command = o->command_name;
  p->command_line = o->command_line;
  p->names = malloc(N_OPTIONS * sizeof *p->names);
  p->values = malloc(N_OPTIONS * sizeof *p->values);
  if (!p->names || !p->values) {
    hr_provenance_free(p);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the provenance");
  }
  provenance_ctx_t c = {p, 0};
  int n = snprintf(p->identity, sizeof p->identity, "command=%s", o->command_name);
  c.used = n > 0 ? (size_t)n : 0;
  int rc = hr_options_visit(o, record_option, &c);
  if (rc != HR_OK) hr_provenance_free(p);
  return rc;
}

void hr_options_hessian_setup(const hr_options_t *o, hr_hessian_setup_t *s) {
  memset(s, 0, sizeof *s);
  hr_dataset_spec_t *spec = &s->spec;
  spec->data = o->data;
  spec->labels = o->labels[0] ? o->labels : NULL;
  spec->features_dset = o->features_dset;
  spec->labels_dset = o->labels_dset;
  spec->limit = o->limit;
  spec->no_labels = o->targets[0] != '\0';  /* regression: features only */
  spec->n = o->rows;
  spec->dim = o->dim;
  spec->classes = (int)(o->classes ? o->classes : 4);
  spec->separation = o->separation;
  spec->seed = (uint64_t)o->seed;
  s->targets = o->targets;
  s->targets_dset = o->targets_dset;
  s->model = o->model;
  s->weights = o->weights;
  s->bias = o->bias;
  s->activation = (hr_activation_t)o->activation;
  s->loss = (hr_loss_t)o->loss;
  s->classes = o->classes;
  s->init_seed = (uint64_t)o->init_seed;
  s->scale_pixels = o->scale_pixels;
  s->standardize = o->standardize;
  s->dry_run = o->dry_run;
}

void hr_options_run_settings(const hr_options_t *o, hr_run_settings_t *s) {
  s->command = o->command_name;
  s->output = o->output;
  s->groups = o->groups;
  s->grid_rows = o->grid_rows;
  s->grid_cols = o->grid_cols;
  s->solver = (hr_solver_t)o->solver;
  s->precision = (hr_precision_t)o->precision;
  s->nblk = o->nblk;
  s->eigenvectors = o->eigenvectors;
  s->max_mem = o->max_mem;
  s->quiet = o->quiet;
  s->resume = o->resume;
}

void hr_options_relu_settings(const hr_options_t *o, hr_relu_settings_t *s) {
  s->n0_list = o->n0_list;
  s->n1_list = o->n1_list;
  s->n2_list = o->n2_list;
  s->m_list = o->m_list;
  s->runs = o->runs;
  s->iters = o->iters;
  s->seed = (uint64_t)o->seed;
  s->sigma = o->sigma;
  s->step = o->step;
  s->rescale_h1 = o->rescale_h1;
  s->precision = (hr_precision_t)o->precision;
}

int hr_options_outputs(const hr_options_t *o, const char **paths, int max) {
  const char *list[4] = {NULL, NULL, NULL, NULL};
  int n = 0;
  switch (o->command) {
    case HR_CMD_ENSEMBLE:
    case HR_CMD_HESSIAN:
      if (o->dry_run) return 0;
      list[n++] = o->output;
      if (!o->no_stats) {
        list[n++] = o->json;
        list[n++] = o->plots;
      }
      break;
    case HR_CMD_RELU_SIM:
      list[n++] = o->output;
      list[n++] = o->json;
      list[n++] = o->plots;
      break;
    case HR_CMD_TRAIN:
      list[n++] = o->output;
      list[n++] = o->history;
      break;
    case HR_CMD_MERGE:
      list[n++] = o->output;
      break;
    case HR_CMD_STATS:
    case HR_CMD_LOSSFIT:
      list[n++] = o->json;
      list[n++] = o->plots;
      break;
    default:
      break;
  }
  int kept = 0;
  for (int i = 0; i < n && kept < max; i++)
    if (list[i] && list[i][0]) paths[kept++] = list[i];
  return kept;
}

void hr_options_stats_job(const hr_options_t *o, hr_stats_job_t *job) {
  memset(job, 0, sizeof *job);
  hr_stats_config_default(&job->analysis);
  if (o->command == HR_CMD_STATS) job->analysis.dataset = o->stats_dataset;
  job->analysis.cut = o->cut;
  job->analysis.unfold = o->unfold;
  job->analysis.poly_degree = (int)o->poly_degree;
  job->analysis.trim = o->trim;
  job->analysis.paper_conventions = o->paper_conventions;
  job->json = o->json;
  job->plots = o->plots;
  job->plot_width = (int)o->plot_width;
  job->plot_height = (int)o->plot_height;
  job->log_density = o->log_density;
}
