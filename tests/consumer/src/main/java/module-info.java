/** An application linking kvq: it needs only the runtime module (and the kernels, to list PTX). */
module dev.kvq.example.consumer {
    requires dev.kvq.runtime;
    requires dev.kvq.kernels;
}
