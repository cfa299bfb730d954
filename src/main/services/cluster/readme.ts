import type { JobFile } from './export-job'

/** README.md of a job folder: what it is, how to launch it anywhere, and how to bring it back. */
export function jobReadme(o: { dir: string; job: JobFile; projectDir: string }): string {
  const { job } = o
  const opt = job.options
  const model = job.recipe === 'cnn' ? `CNN ${opt.model ?? 'custom'}` : `${job.recipe} on ${opt.base}${job.recipe === 'transfer' && opt.baseCut && opt.baseCut !== 'full' ? ` (cut at ${opt.baseCut})` : ''}${job.fromRunId ? `, from run ${job.fromRunId}` : ''}`
  const name = o.dir.split('/').filter(Boolean).pop() ?? 'job'
  return `# Classifier Studio training job

Made by \`classifier-studio job export\` from the project ${o.projectDir} on ${job.createdAt.slice(0, 10)}.
Model: ${model}; ${job.labels.length} classes (${job.labels.join(', ')}); images ${job.imageShape.join('x')};
${job.splits.train.count} training and ${job.splits.validation?.count ?? 0} validation images; ${opt.epochs} epochs,
batch ${opt.batchSize} per worker, ${job.optimizer.name} lr ${job.optimizer.learningRate}, seed ${opt.seed}.

Needs only python3, torch and numpy (no torchvision, no TensorFlow). Everything is in this folder:

| file | what |
|---|---|
| \`train.py\` | the training script (DDP: nccl on GPUs, gloo on CPUs, chosen automatically) |
| \`job.json\` | recipe, options, classes, preprocessing, the project it came from |
| \`model.json\` | the app's model (Keras topology); \`train.py\` rebuilds it layer for layer |
| \`weights-init.bin/.json\` | the starting weights in PyTorch layout, Keras names |
| \`data-<split>-NNNNN.npy\` | the images, uint8 NHWC shards, memory-mapped (each worker reads only its part) |
| \`labels-<split>.npy\`, \`ids-<split>.npy\` | class index and the app's image id of every image |
| \`classes.json\`, \`preprocessing.json\` | class names; the model's preprocess_input |

\`train.py\` writes into \`output/\` (rank 0 only): \`metrics.jsonl\` (one line per epoch), \`checkpoint.pt\`
(after every epoch: a restarted or resubmitted job continues after the last finished epoch),
\`best-weights.bin/.json\`, \`val-probs.bin\` (for the app's parity check) and \`result.json\` (last).
The batch size is per worker: N workers train on a global batch of N x ${opt.batchSize} with the
gradients averaged (pass \`--global-batch B\` to keep the global batch fixed instead). Mixed
precision is on for GPUs (\`--no-amp\` turns it off).

## Run it

One machine (all its GPUs, or one process per core on a CPU machine; \`auto\` = the GPU count):

\`\`\`sh
cd ${name}
torchrun --standalone --nproc_per_node=auto train.py
# CPU only, 2 workers, restarting a failed worker once:
python3 -m torch.distributed.run --standalone --nproc_per_node=2 --max_restarts=1 train.py
\`\`\`

With Debian's python3-torch 1.13 on Python 3.11, torchrun fails at start with
\`AttributeError: 'NoneType' object has no attribute 'get'\` (its default \`--redirects 0\` is not
understood there): add \`--redirects=2 --tee=2\` (worker errors go to the console and a log file).

Several nodes (run the same line on every node; the folder on a shared file system, or copied
to each node; \`output/\` must be shared or on node 0, whose rank 0 writes it):

\`\`\`sh
torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST_OF_NODE0:29400 \\
  --rdzv_id=${job.jobId} --max_restarts=3 train.py
\`\`\`

Slurm (\`sbatch job.sbatch\`):

\`\`\`sh
#!/bin/bash
#SBATCH --job-name=classifier-studio
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun torchrun --nnodes=$SLURM_NNODES --nproc_per_node=8 --rdzv_backend=c10d \\
  --rdzv_endpoint=$head:29400 --rdzv_id=$SLURM_JOB_ID --max_restarts=3 ${name}/train.py
\`\`\`

Kubernetes with Kubeflow's training operator (the folder on a volume mounted at /job, e.g. a
PersistentVolumeClaim named \`classifier-studio-job\`; any image with python3 + torch + numpy):

\`\`\`yaml
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: classifier-studio-${job.jobId.slice(0, 8)}
spec:
  elasticPolicy:
    rdzvBackend: c10d
    minReplicas: 2
    maxReplicas: 2
    maxRestarts: 3
  pytorchReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: OnFailure
      template:
        spec:
          containers:
            - name: pytorch
              image: pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime
              command: ["torchrun", "--nproc_per_node=auto", "/job/train.py"]
              resources:
                limits:
                  nvidia.com/gpu: 8
              volumeMounts:
                - { name: job, mountPath: /job }
          volumes:
            - name: job
              persistentVolumeClaim: { claimName: classifier-studio-job }
\`\`\`

## Bring the result back

When \`output/result.json\` exists, copy this folder back (or mount it) and run:

\`\`\`sh
classifier-studio job import ${o.projectDir} ${o.dir} --json
\`\`\`

The app converts the best weights into a run of the project (config, per-epoch metrics, best
checkpoint, marked as trained by torchrun), runs the model itself on the validation split and
compares its probabilities with \`output/val-probs.bin\`: the import is refused unless they agree to
1e-4 with the same predicted label for every image. Evaluate, predict, Grad-CAM and every export
then work on the run as on a local one.
`
}
