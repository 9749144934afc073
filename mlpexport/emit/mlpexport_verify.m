function ok = mlpexport_verify(name, rtol)
%MLPEXPORT_VERIFY  Check an mlpexport MATLAB export against scikit-learn's own outputs.
%   mlpexport_verify('NAME') runs NAME.m on the test rows stored in NAME.mat
%   (test_X) and compares with the outputs scikit-learn gave for them when the
%   model was exported (test_predict, test_proba or test_scores). Labels must be identical;
%   numbers must agree within rtol relative to max(|value|, median |value| of
%   the column) -- the same measure `mlpexport check` uses.
%   ok = mlpexport_verify('NAME', rtol) returns true/false instead of raising
%   an error. Default rtol: 1e-9 for double exports, 1e-4 for single ones.
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

clear(name);  % drop the weights NAME.m may have cached, so the file on disk is used
f = str2func(name);
failures = {};
if isfield(d, 'test_proba')
    [label, proba] = f(d.test_X);
    [err, where] = relative_error(proba, d.test_proba);
    if err > rtol
        failures{end + 1} = sprintf('probabilities: max relative error %.3g > %g (row %d)', err, rtol, where);
    end
    same = labels_equal(label, d.test_predict);
    if ~all(same)
        failures{end + 1} = sprintf('labels: %d of %d differ (first: row %d)', sum(~same), numel(same), find(~same, 1));
    end
    fprintf('%s: %d rows, probabilities max rel error %.3g, labels %d/%d equal\n', ...
            name, size(d.test_X, 1), err, sum(same), numel(same));
elseif isfield(d, 'test_scores')  % a classifier without probabilities
    [label, scores] = f(d.test_X);
    [err, where] = relative_error(scores, d.test_scores);
    if err > rtol
        failures{end + 1} = sprintf('scores: max relative error %.3g > %g (row %d)', err, rtol, where);
    end
    same = labels_equal(label, d.test_predict);
    if ~all(same)
        failures{end + 1} = sprintf('labels: %d of %d differ (first: row %d)', sum(~same), numel(same), find(~same, 1));
    end
    fprintf('%s: %d rows, scores max rel error %.3g, labels %d/%d equal\n', ...
            name, size(d.test_X, 1), err, sum(same), numel(same));
else
    y = f(d.test_X);
    [err, where] = relative_error(y, d.test_predict);
    if err > rtol
        failures{end + 1} = sprintf('predictions: max relative error %.3g > %g (row %d)', err, rtol, where);
    end
    fprintf('%s: %d rows, predictions max rel error %.3g\n', name, size(d.test_X, 1), err);
end

ok = isempty(failures);
if ok
    fprintf('%s: PASS (agrees with scikit-learn %s within %g)\n', name, d.meta.sklearn_version, rtol);
else
    fprintf('%s: FAIL\n', name);
    for i = 1:numel(failures)
        fprintf('  %s\n', failures{i});
    end
    if nargout == 0
        error('mlpexport:verifyFailed', 'mlpexport_verify: %s disagrees with scikit-learn: %s', name, failures{1});
    end
end
if nargout == 0
    clear ok
end
end

function [worst, where] = relative_error(got, want)
got = double(got);
want = double(want);
if ~isequal(size(got), size(want))
    worst = Inf;
    where = 0;
    return
end
absw = abs(want);
absw(~isfinite(absw)) = 0;
typical = median(absw, 1);
typical(typical == 0) = max(absw(:, typical == 0), [], 1);
scale = max(absw, repmat(typical, size(absw, 1), 1));
err = abs(got - want);
err(got == want | (isnan(got) & isnan(want))) = 0;
err(isnan(err)) = Inf;
rel = err;
rel(scale > 0) = err(scale > 0) ./ scale(scale > 0);
[worst, where] = max(rel(:));
[where, ~] = ind2sub(size(rel), where);
if isempty(worst)
    worst = 0;
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
