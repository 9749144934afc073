function results = mlpexport_test_exports(folder, kind)
%MLPEXPORT_TEST_EXPORTS  Test every mlpexport MATLAB export in a folder.
%   mlpexport_test_exports(FOLDER) finds each NAME.m with its NAME.mat (made by
%   `mlpexport convert --to matlab`) in FOLDER and tests it on the test rows the
%   .mat stores:
%     verify     mlpexport_verify(NAME) passes (scikit-learn's outputs)
%     vector     one sample given as a column vector gives the row's outputs
%     badShape   N x (features + 1) input raises mlpexport:badShape
%     notNumeric char input raises mlpexport:notNumeric (mlpexport:notStruct
%                for an export with text columns, which takes a struct)
%     nonFinite  a row with Inf raises mlpexport:nonFinite
%     charField  a struct whose number field holds char ('12', which Octave
%                would read as the codes 49 50) raises mlpexport:notNumeric
%   A test that does not apply to an export (vector and badShape take a matrix,
%   charField a struct) is skipped for it. It prints one line per test and a
%   summary, and raises mlpexport:testsFailed when any test fails.
%   results = mlpexport_test_exports(FOLDER) returns a struct array (name, test,
%   passed, message) instead of raising. mlpexport_test_exports(FOLDER, KIND)
%   runs only the tests named in KIND (a char or a cell array of char).
%
%   Function-based, so it runs in MATLAB (R2016b+) and in GNU Octave (6+); the
%   matlab.unittest suite in tests/MlpexportExportsTest.m calls it.

if nargin < 1 || isempty(folder)
    folder = pwd;
end
all_kinds = {'verify', 'vector', 'badShape', 'notNumeric', 'nonFinite', 'charField'};
if nargin < 2 || isempty(kind)
    kind = all_kinds;
end
kind = cellstr(kind);
unknown = setdiff(kind, all_kinds);
if ~isempty(unknown)
    error('mlpexport:badTest', 'mlpexport_test_exports: no test named %s (tests: %s).', ...
          unknown{1}, strjoin(all_kinds, ', '));
end
if exist(folder, 'dir') ~= 7
    error('mlpexport:notFound', 'mlpexport_test_exports: %s is not a folder.', folder);
end
names = export_names(folder);
if isempty(names)
    error('mlpexport:noExports', 'mlpexport_test_exports: no NAME.m with NAME.mat in %s.', folder);
end

old_path = addpath(folder);
restore = onCleanup(@() path(old_path));
results = struct('name', {}, 'test', {}, 'passed', {}, 'message', {});
for i = 1:numel(names)
    name = names{i};
    d = load(fullfile(folder, [name '.mat']));
    clear(name);
    f = str2func(name);
    for k = 1:numel(kind)
        [passed, message] = run_one(kind{k}, name, f, d);
        if isempty(passed)
            continue  % does not apply to this export
        end
        results(end + 1) = struct('name', name, 'test', kind{k}, ...
                                  'passed', passed, 'message', message); %#ok<AGROW>
        if passed
            fprintf('PASS %s %s\n', name, kind{k});
        else
            fprintf('FAIL %s %s: %s\n', name, kind{k}, message);
        end
    end
end
failed = sum(~[results.passed]);
fprintf('%d tests on %d exports: %d passed, %d failed\n', numel(results), numel(names), ...
        numel(results) - failed, failed);
if nargout == 0
    if failed > 0
        error('mlpexport:testsFailed', 'mlpexport_test_exports: %d of %d tests failed.', ...
              failed, numel(results));
    end
    clear results;
end
end

function names = export_names(folder)
% NAME for each NAME.mat with test rows and a NAME.m beside it, sorted
listing = dir(fullfile(folder, '*.mat'));
names = {};
for i = 1:numel(listing)
    [~, name] = fileparts(listing(i).name);
    if exist(fullfile(folder, [name '.m']), 'file') == 2
        names{end + 1} = name; %#ok<AGROW>
    end
end
names = sort(names);
end

function [passed, message] = run_one(kind, name, f, d)
passed = [];
message = '';
if ~isfield(d, 'test_X')
    if strcmp(kind, 'verify')
        passed = false;
        message = 'the .mat has no test rows (test_X)';
    end
    return
end
X = d.test_X;
matrix = isnumeric(X);
switch kind
    case 'verify'
        try
            passed = mlpexport_verify(name);
            if ~passed
                message = 'mlpexport_verify reported FAIL (see its output above)';
            end
        catch err
            passed = false;
            message = err.message;
        end
    case 'vector'
        if matrix && size(X, 1) > 0
            [passed, message] = same_outputs(f, X(1, :)', X(1, :));
        end
    case 'badShape'
        if matrix
            [passed, message] = raises(f, zeros(2, size(X, 2) + 1), 'mlpexport:badShape');
        end
    case 'notNumeric'
        if matrix
            [passed, message] = raises(f, repmat('a', 2, size(X, 2)), 'mlpexport:notNumeric');
        else  % an export that takes only a struct of columns
            [passed, message] = raises(f, 'abc', 'mlpexport:notStruct');
        end
    case 'nonFinite'
        if matrix && size(X, 1) > 0
            row = X(1, :);
            row(1) = Inf;
            [passed, message] = raises(f, row, 'mlpexport:nonFinite');
        end
    case 'charField'
        S = as_struct(d);
        field = number_field(d, S);
        if ~isempty(field)
            S.(field) = repmat('1', numel(S.(field)), 1);  % numbers written as text
            [passed, message] = raises(f, S, 'mlpexport:notNumeric');
        end
end
end

function S = as_struct(d)
% the test rows as a struct of columns named by the export's feature names, or []
S = [];
if isstruct(d.test_X)
    S = d.test_X;
elseif isfield(d, 'feature_names')
    names = cellstr(d.feature_names);
    for k = 1:numel(names)
        S.(names{k}) = d.test_X(:, k);
    end
end
end

function field = number_field(d, S)
% the first field that holds numbers (not one of the text columns, vocab_<column>)
field = '';
if isempty(S) || ~isfield(d, 'feature_names')
    return
end
names = cellstr(d.feature_names);
for k = 1:numel(names)
    if ~isfield(d, sprintf('vocab_%d', k - 1))
        field = names{k};
        return
    end
end
end

function [passed, message] = raises(f, X, identifier)
passed = false;
try
    f(X);
    message = sprintf('no error, expected %s', identifier);
catch err
    passed = strcmp(err.identifier, identifier);
    message = '';
    if ~passed
        message = sprintf('raised %s (%s), expected %s', err.identifier, err.message, identifier);
    end
end
end

function [passed, message] = same_outputs(f, a, b)
n = nargout(f);
got = cell(1, n);
want = cell(1, n);
[got{:}] = f(a);
[want{:}] = f(b);
passed = isequaln(got, want);
message = '';
if ~passed
    message = 'a sample as a column vector gives other outputs than as a row';
end
end
