// Uploads for the capture page (docs/API.md "POST /api/v1/bills/{image_no}/files"): one
// file is one XMLHttpRequest (fetch() reports no upload progress), its raw bytes as the
// body, with the user's token and an Idempotency-Key kept for the file's life, so a
// retry after a failure can never store it twice. A queue sends a bill's files one at a
// time, in the order given (the order is the files' positions); a job reports bytes
// sent, then "storing" until the node answers 201 (the content durable on the write
// quorum and the metadata committed).
import * as api from './api.js';
import {t} from './i18n.js';
import {session} from './session.js';

// Sends @file to bill @imageNo with @query (name, batch, replace, after). @onProgress
// (sent, total) while bytes go out, then @onStoring() once all are sent. Answers
// {promise, abort}; the promise gives the 201 body or throws ApiError (status 0 for
// no answer) or an Error named AbortError.
export function sendFile(imageNo, file, query, key, {onProgress, onStoring} = {}) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
        xhr.open('POST', api.apiPath(['bills', imageNo, 'files'], query));
        const token = session.token();
        if (token) {
            xhr.setRequestHeader('Authorization', 'Bearer ' + token);
        }
        xhr.setRequestHeader('Idempotency-Key', key);
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
        xhr.setRequestHeader('Accept', 'application/json');
        xhr.upload.addEventListener('progress', (e) => {
            if (onProgress) {
                onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
            }
        });
        xhr.upload.addEventListener('load', () => onStoring && onStoring());
        xhr.addEventListener('load', () => {
            api.noteIndex(xhr.getResponseHeader('X-Imgarc-Index'));
            let data = null;
            try {
                data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
            } catch {
                data = null;
            }
            if (xhr.status === 200 || xhr.status === 201) {
                api.noteIndex(data && data.index);
                resolve(data);
                return;
            }
            const ra = xhr.getResponseHeader('Retry-After');
            const err = new api.ApiError(xhr.status, data, xhr.getResponseHeader('X-Request-Id'),
                                         ra !== null && /^[0-9]+$/.test(ra) ? Number(ra) : null);
            api.reportError(err, !!token);
            reject(err);
        });
        xhr.addEventListener('error', () => {
            const err = new api.ApiError(0, {message: t('no_answer', 'network error')}, '', null);
            api.reportError(err, false);
            reject(err);
        });
        xhr.addEventListener('abort', () => {
            const e = new Error('cancelled');
            e.name = 'AbortError';
            reject(e);
        });
        xhr.send(file);
    });
    return {promise, abort: () => xhr.abort()};
}

let jobSeq = 0;

// A bill's upload queue. add(files, how) queues files: how = {} (append), {replace:
// [ids]} (the i-th file replaces the i-th id), or {after: id} (inserted after id, each
// next one after the file just created). @onChange() on every change of a job,
// @onStored(job) after each 201. Jobs: {id, file, key, state (waiting, sending,
// storing, done, failed, cancelled), sent, total, error, result}.
export class UploadQueue {
    constructor(imageNo, batch, onChange, onStored) {
        this.imageNo = imageNo;
        this.batch = batch;
        this.onChange = onChange;
        this.onStored = onStored;
        this.jobs = [];
        this.running = null;
    }

    add(files, how = {}) {
        const chain = how.after ? {after: how.after} : null;
        files.forEach((file, i) => {
            this.jobs.push({id: ++jobSeq, file, key: api.newKey(), state: 'waiting', sent: 0,
                            total: file.size, error: null, result: null,
                            replace: how.replace ? how.replace[i] : null, chain});
        });
        this.onChange();
        this.pump();
    }

    busy() {
        return this.jobs.some((j) => j.state === 'waiting' || j.state === 'sending' ||
                               j.state === 'storing');
    }

    cancel(job) {
        if (job.state === 'waiting') {
            job.state = 'cancelled';
            this.onChange();
        } else if ((job.state === 'sending' || job.state === 'storing') && job.abort) {
            job.abort();
        }
    }

    // Sends a failed or cancelled job again, with the same Idempotency-Key.
    retry(job) {
        if (job.state === 'failed' || job.state === 'cancelled') {
            job.state = 'waiting';
            job.error = null;
            job.sent = 0;
            this.onChange();
            this.pump();
        }
    }

    // Forgets the finished jobs (done or cancelled).
    clearDone() {
        this.jobs = this.jobs.filter((j) => j.state !== 'done' && j.state !== 'cancelled');
        this.onChange();
    }

    async pump() {
        if (this.running) {
            return;
        }
        const job = this.jobs.find((j) => j.state === 'waiting');
        if (!job) {
            return;
        }
        this.running = job;
        const query = {name: job.file.name, batch: this.batch};
        if (job.replace) {
            query.replace = job.replace;
        } else if (job.chain) {
            query.after = job.chain.after;
        }
        job.state = 'sending';
        this.onChange();
        const s = sendFile(this.imageNo, job.file, query, job.key, {
            onProgress: (sent, total) => {
                job.sent = sent;
                job.total = total;
                this.onChange();
            },
            onStoring: () => {
                job.sent = job.total;
                job.state = 'storing';
                this.onChange();
            },
        });
        job.abort = s.abort;
        try {
            job.result = await s.promise;
            job.state = 'done';
            if (job.chain && job.result && job.result.file_id) {
                job.chain.after = job.result.file_id;
            }
        } catch (e) {
            job.state = e && e.name === 'AbortError' ? 'cancelled' : 'failed';
            job.error = e;
        }
        job.abort = null;
        this.running = null;
        this.onChange();
        if (job.state === 'done') {
            await this.onStored(job);
        }
        this.pump();
    }
}
