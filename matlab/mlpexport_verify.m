function ok = mlpexport_verify(name, rtol, atol)
%MLPEXPORT_VERIFY  Check an mlpexport MATLAB export against scikit-learn's own outputs.
%   mlpexport_verify('NAME') runs NAME.m on the test rows stored in NAME.mat
%   (test_X) and compares with the outputs scikit-learn gave for them when the
%   model was exported (test_predict, test_proba or test_scores), as
%   `mlpexport check` does: an element agrees when its error relative to
%   max(|value|, the typical magnitude of its column) is <= rtol, or its
%   absolute error is <= atol. The typical magnitude is the one check used
%   when convert proved the export (test_scale_* in NAME.mat; without it, the
%   median magnitude of the test rows' column). Labels must be identical,
%   except on rows where scikit-learn's own probabilities (or scores) tie to
%   within rtol.
%   ok = mlpexport_verify('NAME', rtol, atol) returns true/false instead of
%   raising an error. Default rtol: 1e-9 for double exports, 1e-4 for single
%   ones (check's defaults); default atol: 0.
%
%   Needs only MATLAB (R2016b+) or GNU Octave (6+): no Python. NAME.m and
%   NAME.mat must be on the path or in the current folder.

m_file = which([name '.m']);
if isempty(m_file)
    error('mlpexport:notFound', 'mlpexport_verify: %s.m is not on the path.', name);
end
mat_file = fullfile(fileparts(m_file), [name '.mat']);
d = load(mat_file);
if ~isfield(d, 'test_X')
    error('mlpexport:noTestRows', 'mlpexport_verify: %s has no test rows (test_X).', mat_file);
end
if nargin < 2 || isempty(rtol)
    if strcmp(d.meta.dtype, 'float32')
        rtol = 1e-4;
    else
        rtol = 1e-9;
    end
end
if nargin < 3 || isempty(atol)
    atol = 0;
end
n = size(d.test_predict, 1);  % test_X is a struct of columns for a model with text columns

clear(name);  % drop the weights NAME.m may have cached, so the file on disk is used
f = str2func(name);
failures = {};
if isfield(d, 'test_proba') || isfield(d, 'test_scores')
    if isfield(d, 'test_proba')
        what = 'probabilities';
        want = d.test_proba;
        [label, got] = f(d.test_X);
        margin = proba_margin(want, size(d.test_predict, 2) > 1);
        typical = stored_scale(d, 'test_scale_proba', want);
    else  % a classifier without probabilities
        what = 'scores';
        want = d.test_scores;
        [label, got] = f(d.test_X);
        margin = score_margin(want, stored_scale(d, 'test_scale_scores', want));
        typical = stored_scale(d, 'test_scale_scores', want);
    end
    [err, where, bad] = relative_error(got, want, typical, rtol, atol);
    if bad
        failures{end + 1} = sprintf('%s: max relative error %.3g > %g (row %d)', ...
                                    what, err, rtol, where);
    end
    same = labels_equal(label, d.test_predict);
    ties = sum(~same & margin <= rtol);
    if sum(~same) > ties
        failures{end + 1} = sprintf('labels: %d of %d differ (first: row %d)', ...
                                    sum(~same) - ties, numel(same), find(~same & margin > rtol, 1));
    end
    fprintf('%s: %d rows, %s max rel error %.3g, labels %d/%d equal%s\n', ...
            name, n, what, err, sum(same), numel(same), tie_note(ties));
else
    y = f(d.test_X);
    typical = stored_scale(d, 'test_scale_predict', d.test_predict);
    [err, where, bad] = relative_error(y, d.test_predict, typical, rtol, atol);
    if bad
        failures{end + 1} = sprintf('predictions: max relative error %.3g > %g (row %d)', ...
                                    err, rtol, where);
    end
    fprintf('%s: %d rows, predictions max rel error %.3g\n', name, n, err);
end

ok = isempty(failures);
if ok
    fprintf('%s: PASS (agrees with scikit-learn %s within rtol %g, atol %g)\n', ...
            name, d.meta.sklearn_version, rtol, atol);
else
    fprintf('%s: FAIL\n', name);
    for i = 1:numel(failures)
        fprintf('  %s\n', failures{i});
    end
    if nargout == 0
        error('mlpexport:verifyFailed', 'mlpexport_verify: %s disagrees with scikit-learn: %s', ...
              name, failures{1});
    end
end
if nargout == 0
    clear ok;
end
end

function typical = stored_scale(d, field, want)
% the typical magnitude of each column that check used (stored by convert), else the
% test rows' own: the median magnitude, its maximum where the median is 0
if isfield(d, field) && numel(d.(field)) == size(want, 2)
    typical = double(d.(field)(:)');
    return
end
absw = abs(double(want));
absw(~isfinite(absw)) = 0;
typical = median(absw, 1);
typical(typical == 0) = max(absw(:, typical == 0), [], 1);
end

function [worst, where, bad] = relative_error(got, want, typical, rtol, atol)
got = double(got);
want = double(want);
if ~isequal(size(got), size(want))
    worst = Inf;
    where = 0;
    bad = true;
    return
end
absw = abs(want);
absw(~isfinite(absw)) = 0;
scale = max(absw, repmat(typical, size(absw, 1), 1));
err = abs(got - want);
err(got == want | (isnan(got) & isnan(want))) = 0;
err(isnan(err)) = Inf;
rel = err;
rel(scale > 0) = err(scale > 0) ./ scale(scale > 0);
rel(err == 0) = 0;
failing = ~(rel <= rtol | err <= atol);
bad = any(failing(:));
if isempty(rel)
    worst = 0;
    where = 0;
    return
end
worst = max(rel(:));
if bad
    [where, ~] = find(failing, 1);
else
    [where, ~] = find(rel == worst, 1);
end
end

function margin = proba_margin(p, multilabel)
% per row: how close scikit-learn's own probabilities are to a tie (check's measure)
if multilabel
    margin = min(abs(p - 0.5), [], 2);
elseif size(p, 2) > 1
    s = sort(p, 2, 'descend');
    margin = s(:, 1) - s(:, 2);
else
    margin = abs(p(:, 1) - 0.5);
end
end

function margin = score_margin(scores, typical)
% per row: how close scikit-learn's own scores are to a tie, relative to their scale
s = bsxfun(@rdivide, double(scores), max(typical, realmin));
if size(s, 2) == 1
    margin = abs(s);
else
    s = sort(s, 2, 'descend');
    margin = s(:, 1) - s(:, 2);
end
end

function text = tie_note(ties)
text = '';
if ties > 0
    text = sprintf(' (%d differ at ties)', ties);
end
end

function same = labels_equal(got, want)
if iscell(want) || ischar(want)
    same = strcmp(cellstr(got), cellstr(want));
else
    same = double(got) == double(want);
end
same = all(same, 2);
end
