#!/bin/sh

if [ ! -f train.py ]; then
    echo "run this script from the project folder, where train.py is" >&2
    exit 1
fi

# The data sets, downloaded once before any run.
python fetch_data.py mnist fashion_mnist cifar10 cifar100 || exit 1

# Each run below is skipped when its outputs exist, resumes when it was interrupted, and does not
# stop the others when it fails. The runs that failed, and those that another process is training
# (locked: exit 3), are listed at the end. A run stopped by SIGTERM saves a checkpoint
# and exits 75: the script stops there, and running it again resumes. A SIGTERM sent to
# this script goes on to the run in progress; Ctrl-C reaches it from the terminal, and the script
# dies of it after the run does. sh runs a trap only between commands, so each run goes in the
# background and the script waits for it.
failed=""
locked=""
child=""
stop=""
interrupted=""
trap 'stop=yes; signalled=yes; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM
trap 'interrupted=yes; signalled=yes' INT
run() {
    if [ -n "$stop" ]; then
        echo "stopped: run this script again to resume" >&2
        exit 75
    fi
    signalled=""
    "$@" &
    child=$!
    wait "$child"
    status=$?
    while [ "$status" -gt 128 ] && [ -n "$signalled" ]; do  # a trap cut the wait short
        signalled=""
        wait "$child"
        status=$?
    done
    child=""
    if [ -n "$interrupted" ]; then
        trap - INT
        kill -INT $$
    fi
    if [ "$status" -eq 75 ] || [ -n "$stop" ]; then
        echo "stopped: run this script again to resume" >&2
        exit 75
    elif [ "$status" -eq 3 ]; then
        locked="$locked
    $*"
    elif [ "$status" -ne 0 ]; then
        failed="$failed
    $*"
    fi
}

run python train.py --history output/resnet_adam_mnist.pickle --report output/resnet_adam_mnist.txt --dataset mnist --model resnet --optimizer adam
run python train.py --history output/resnet_radam_mnist.pickle --report output/resnet_radam_mnist.txt --dataset mnist --model resnet --optimizer radam
run python train.py --history output/googlenet_adam_mnist.pickle --report output/googlenet_adam_mnist.txt --dataset mnist --model googlenet --optimizer adam
run python train.py --history output/googlenet_radam_mnist.pickle --report output/googlenet_radam_mnist.txt --dataset mnist --model googlenet --optimizer radam
run python train.py --history output/minivggnet_adam_mnist.pickle --report output/minivggnet_adam_mnist.txt --dataset mnist --model minivggnet --optimizer adam
run python train.py --history output/minivggnet_radam_mnist.pickle --report output/minivggnet_radam_mnist.txt --dataset mnist --model minivggnet --optimizer radam
run python train.py --history output/resnet_adam_fashion_mnist.pickle --report output/resnet_adam_fashion_mnist.txt --dataset fashion_mnist --model resnet --optimizer adam
run python train.py --history output/resnet_radam_fashion_mnist.pickle --report output/resnet_radam_fashion_mnist.txt --dataset fashion_mnist --model resnet --optimizer radam
run python train.py --history output/googlenet_adam_fashion_mnist.pickle --report output/googlenet_adam_fashion_mnist.txt --dataset fashion_mnist --model googlenet --optimizer adam
run python train.py --history output/googlenet_radam_fashion_mnist.pickle --report output/googlenet_radam_fashion_mnist.txt --dataset fashion_mnist --model googlenet --optimizer radam
run python train.py --history output/minivggnet_adam_fashion_mnist.pickle --report output/minivggnet_adam_fashion_mnist.txt --dataset fashion_mnist --model minivggnet --optimizer adam
run python train.py --history output/minivggnet_radam_fashion_mnist.pickle --report output/minivggnet_radam_fashion_mnist.txt --dataset fashion_mnist --model minivggnet --optimizer radam
run python train.py --history output/resnet_adam_cifar10.pickle --report output/resnet_adam_cifar10.txt --dataset cifar10 --model resnet --optimizer adam
run python train.py --history output/resnet_radam_cifar10.pickle --report output/resnet_radam_cifar10.txt --dataset cifar10 --model resnet --optimizer radam
run python train.py --history output/googlenet_adam_cifar10.pickle --report output/googlenet_adam_cifar10.txt --dataset cifar10 --model googlenet --optimizer adam
run python train.py --history output/googlenet_radam_cifar10.pickle --report output/googlenet_radam_cifar10.txt --dataset cifar10 --model googlenet --optimizer radam
run python train.py --history output/minivggnet_adam_cifar10.pickle --report output/minivggnet_adam_cifar10.txt --dataset cifar10 --model minivggnet --optimizer adam
run python train.py --history output/minivggnet_radam_cifar10.pickle --report output/minivggnet_radam_cifar10.txt --dataset cifar10 --model minivggnet --optimizer radam
run python train.py --history output/resnet_adam_cifar100.pickle --report output/resnet_adam_cifar100.txt --dataset cifar100 --model resnet --optimizer adam
run python train.py --history output/resnet_radam_cifar100.pickle --report output/resnet_radam_cifar100.txt --dataset cifar100 --model resnet --optimizer radam
run python train.py --history output/googlenet_adam_cifar100.pickle --report output/googlenet_adam_cifar100.txt --dataset cifar100 --model googlenet --optimizer adam
run python train.py --history output/googlenet_radam_cifar100.pickle --report output/googlenet_radam_cifar100.txt --dataset cifar100 --model googlenet --optimizer radam
run python train.py --history output/minivggnet_adam_cifar100.pickle --report output/minivggnet_adam_cifar100.txt --dataset cifar100 --model minivggnet --optimizer adam
run python train.py --history output/minivggnet_radam_cifar100.pickle --report output/minivggnet_radam_cifar100.txt --dataset cifar100 --model minivggnet --optimizer radam

if [ -n "$locked" ]; then
    printf 'These runs are locked by another process, which is training them; ' >&2
    printf 'run this script again once it has finished:%s\n' "$locked" >&2
fi
if [ -n "$failed" ]; then
    printf 'These runs failed:%s\n' "$failed" >&2
fi
if [ -n "$failed$locked" ]; then
    exit 1
fi
