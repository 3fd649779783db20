# notes for ex2
# softmax: subtract the max first
